"""Usage ingest benchmark: access-log batches through the real `batch_ingest` into PostgreSQL, one process.

    .venv/bin/python -m bench.analytics.rollup [--events 200000] [--batch-size 1000] [--json out.json]

Uses its own database (`portico_bench_usage`, created and migrated if missing; DATABASE_URL overrides) and
resets the analytics tables first. Reports events/s of exactly-once ingest (events + minute/hour/day rollups +
quota counters + key last use, one transaction per batch), verifies every total afterwards and that redelivered
batches change nothing, and compares with a baseline in the same run: a plain COPY of the same rows into a
table like the events table, without validation, rollups or the batch record.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import string
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portico_bench_usage")


def ensure_database() -> None:
    from django.conf import settings

    from tests.support.private_services import create_database

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit("this benchmark measures PostgreSQL: set DATABASE_URL to a postgres:// URL")
    create_database(os.environ["DATABASE_URL"])


# Each bench API's OpenAPI paths, so ingest matches every request to an operation (the rollups' operation dimension).
BENCH_SPEC = {
    "paths": {
        "/v1/items": {"get": {}, "post": {}},
        "/v1/items/{id}": {"get": {}, "delete": {}},
        "/v1/items/{id}/history": {"get": {}},
        "/v1/search": {"get": {}},
    }
}


def setup_catalog(apps: int, keys_per_app: int, apis: int) -> tuple[int, list[dict[str, Any]]]:
    """Organisations, applications, keys, APIs, plans and subscriptions; returns a gateway id and log identities."""
    from django.db import connection

    from gateway_sync.models import Gateway
    from keys.models import ApiKey
    from portal.models import Api, Application, Organisation, Plan, Subscription

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE analytics_requestevent, analytics_usagerollup, analytics_quotausage, analytics_ingestedbatch"
        )
    Subscription.objects.all().delete()
    ApiKey.objects.all().delete()
    Application.objects.all().delete()
    Plan.objects.all().delete()
    Api.objects.all().delete()
    Organisation.objects.filter(name__startswith="bench-").delete()
    Gateway.objects.filter(name="bench-edge").delete()
    gateway = Gateway.objects.create(name="bench-edge", admin_url="http://127.0.0.1:9")
    rng = random.Random(1)
    api_rows = [
        Api.objects.create(
            name=f"API {n}",
            slug=f"bench-{n}",
            path_prefix=f"/bench-{n}",
            upstream_url="http://x",
            openapi_document=BENCH_SPEC,
        )
        for n in range(apis)
    ]
    # Quotas far above the traffic: the quota path (counters, evaluation) runs without ever blocking.
    plans = {
        a.pk: Plan.objects.create(api=a, name="p", slug="p", quota_per_day=10**9, quota_per_month=2 * 10**9)
        for a in api_rows
    }
    identities = []
    for n in range(apps):
        org = Organisation.objects.create(name=f"bench-{n // 5}")
        app = Application.objects.create(organisation=org, name=f"app {n}")
        keys = []
        for _ in range(keys_per_app):
            body = "".join(rng.choices(string.ascii_letters + string.digits, k=7))
            keys.append(
                ApiKey.objects.create(
                    application=app, name="k", prefix=f"ptc_live_{body}", last4="abcd", digest=os.urandom(32).hex()
                )
            )
        for api in rng.sample(api_rows, 2):
            sub = Subscription.objects.create(application=app, api=api, plan=plans[api.pk], status="active")
            for key in keys:
                identities.append(
                    {"api": api.pk, "app": app.pk, "org": org.pk, "sub": sub.pk, "plan": sub.plan_id, "key": key.prefix}
                )
    return gateway.pk, identities


def make_batches(identities: list[dict[str, Any]], events: int, batch_size: int, rate: int) -> list[dict[str, Any]]:
    """Traffic at `rate` req/s ending now: skewed across identities, mostly 2xx, some 4xx/5xx, log-normal latencies;
    paths under the API's prefix, mostly item ids (one operation, 5,000 paths), 1% matching no operation.

    A gateway cuts one batch per flush interval (0.2 s), so 1,000-record batches are 5,000 req/s of traffic.
    """
    from tests.support.access_log import batch, record

    rng = random.Random(2)
    now = time.time()
    weights = [1 / (i + 1) for i in range(len(identities))]
    anonymous = {"api": None, "app": None, "org": None, "sub": None, "plan": None, "key": ""}
    picks = rng.choices(identities, weights=weights, k=events)
    statuses = [200] * 90 + [201] * 3 + [404] * 3 + [401, 429, 500, 502]
    prefixes = {api: f"/bench-{n}" for n, api in enumerate(sorted({i["api"] for i in identities}))}
    batches, seq = [], 0
    for start in range(0, events, batch_size):
        seq += 1
        records = []
        for n in range(start, min(start + batch_size, events)):
            status = rng.choice(statuses)
            who = anonymous if status == 401 else picks[n]
            rt = min(rng.lognormvariate(-4.5, 1.0), 60.0)
            records.append(
                record(
                    who,
                    t=round(now - (events - n) / rate, 3),
                    id=f"{n:016x}-{seq}",
                    m="GET" if n % 7 else "POST",
                    p=f"{prefixes.get(who['api'], '')}/v1/{_bench_path(n)}",
                    s=status,
                    rt=round(rt, 3),
                    ut=round(rt * 0.9, 3),
                    bi=200 + n % 300,
                    bo=500 + n % 5000,
                    ip=f"203.0.113.{n % 250}",
                    lim={429: "rate"}.get(status, "" if status == 401 else "ok"),
                )
            )
        batches.append(batch(seq, records))
    return batches


def _bench_path(n: int) -> str:
    if n % 100 == 0:
        return f"unknown/{n}"  # no operation: counted as "other"
    if n % 10 == 1:
        return "search"
    if n % 10 == 2:
        return f"items/{n % 5000}/history"
    return "items" if n % 7 == 0 else f"items/{n % 5000}"


def baseline_copy(batches: list[dict[str, Any]]) -> float:
    """Seconds to COPY the same rows, converted the cheapest way, into a plain table like the events table."""
    from datetime import UTC, datetime

    from django.db import connection, transaction

    columns = ("time", "gateway_id", "sequence", "position", "request_id", "method", "path", "status")
    columns += ("latency_ms", "upstream_ms", "bytes_in", "bytes_out", "client_ip", "api_id", "application_id")
    columns += ("organisation_id", "subscription_id", "plan_id", "key_id", "key_prefix", "limit_outcome")
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_plain_events")
        cursor.execute("CREATE TABLE bench_plain_events (LIKE analytics_requestevent INCLUDING ALL)")
    started = time.perf_counter()
    for batch in batches:
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY bench_plain_events ({', '.join(columns)}) FROM STDIN") as copy:
                for position, r in enumerate(batch["records"]):
                    copy.write_row(
                        (
                            datetime.fromtimestamp(r["t"], UTC),
                            1,
                            batch["sequence"],
                            position,
                            r["id"],
                            r["m"],
                            r["p"],
                            r["s"],
                            r["rt"] * 1000,
                            r["ut"] * 1000,
                            r["bi"],
                            r["bo"],
                            r["ip"],
                            r["api"],
                            r["app"],
                            r["org"],
                            r["sub"],
                            r["plan"],
                            None,
                            r["key"],
                            r["lim"],
                        )
                    )
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_plain_events")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument(
        "--page", type=int, default=1, help="batches per transaction (the collector fetches up to 100); 1 = per batch"
    )
    parser.add_argument("--rate", type=int, default=5000, help="request rate the timestamps are spread at")
    parser.add_argument("--apps", type=int, default=50)
    parser.add_argument("--keys-per-app", type=int, default=2)
    parser.add_argument("--apis", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import django

    django.setup()
    ensure_database()
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Sum

    from analytics.models import IngestedBatch, QuotaUsage, RequestEvent, UsageRollup
    from analytics.services.ingest import batch_ingest, batches_ingest
    from analytics.services.storage import partitions_existing

    call_command("migrate", verbosity=0)
    gateway_id, identities = setup_catalog(args.apps, args.keys_per_app, args.apis)
    batches = make_batches(identities, args.events, args.batch_size, args.rate)
    expected_admitted = sum(1 for b in batches for r in b["records"] if r["lim"] == "ok")
    print(f"{args.events:,} events in {len(batches)} batches; {len(identities)} (app, key, API) identities")

    started = time.perf_counter()
    if args.page > 1:  # what the collector does: one transaction per fetched page of batches
        for first in range(0, len(batches), args.page):
            batches_ingest(gateway_id=gateway_id, batches=batches[first : first + args.page])
    else:
        for batch in batches:
            batch_ingest(gateway_id=gateway_id, batch=batch)
    ingest_seconds = time.perf_counter() - started

    redelivered = random.Random(3).sample(batches, min(20, len(batches)))
    duplicates = sum(batch_ingest(gateway_id=gateway_id, batch=b).duplicate for b in redelivered)
    totals = {
        g: UsageRollup.objects.filter(granularity=g).aggregate(n=Sum("requests"))["n"]
        for g in ("minute", "hour", "day")
    }
    checks = {
        "events stored": RequestEvent.objects.count() == args.events,
        "batches recorded": IngestedBatch.objects.aggregate(n=Sum("records"))["n"] == args.events,
        "minute/hour/day rollups sum to the events": set(totals.values()) == {args.events},
        "quota counters = admitted requests": QuotaUsage.objects.filter(period="d").aggregate(n=Sum("used"))["n"]
        == expected_admitted,
        "redelivered batches were all duplicates": duplicates == len(redelivered),
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM analytics_requestevent_default")
        in_default = cursor.fetchone()[0]
    baseline_seconds = baseline_copy(batches)

    rate, baseline = args.events / ingest_seconds, args.events / baseline_seconds
    result = {
        "events": args.events,
        "batch_size": args.batch_size,
        "batches_per_transaction": args.page,
        "ingest_seconds": round(ingest_seconds, 3),
        "ingest_events_per_second": round(rate),
        "baseline_copy_seconds": round(baseline_seconds, 3),
        "baseline_events_per_second": round(baseline),
        "ratio": round(rate / baseline, 3),
        "rollup_rows": UsageRollup.objects.count(),
        "operations": sorted(set(UsageRollup.objects.values_list("operation", flat=True))),
        "partitions": len(partitions_existing()),
        "events_in_default_partition": in_default,
        "checks": checks,
    }
    print(f"exactly-once ingest ({args.page} batch(es) per transaction): {rate:,.0f} events/s ({ingest_seconds:.2f} s)")
    print(f"plain COPY baseline: {baseline:,.0f} events/s ({baseline_seconds:.2f} s); ratio {rate / baseline:.2f}x")
    print(f"rollup rows: {result['rollup_rows']:,}; events outside daily partitions: {in_default}")
    print(f"operations: {', '.join(repr(o) for o in result['operations'])}")
    for name, ok in checks.items():
        print(f"  {'ok ' if ok else 'FAIL'} {name}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if not all(checks.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
