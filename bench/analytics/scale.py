"""Issue #13's dataset and goals in one run: 10 million raw events over 30 days for 1,000 applications with the
rollups counted from them; the usage page, per-endpoint REST, request log (first and deep page, page and REST) of
one application, and the staff overview, timed; query plans and the database size per million events.

    .venv/bin/python -m bench.analytics.scale [--events 10000000] [--apps 1000] [--share 0.1] [--days 30]
        [--runs 20] [--reuse] [--json out.json]

Uses its own database (`portico_bench_scale`, created and migrated if missing; DATABASE_URL overrides). Seeding is
done inside PostgreSQL (`INSERT ... SELECT` over generate_series, so it takes minutes, not the tens of minutes a
Python COPY would): `--share` of the events belong to the measured application (40 documented operations, 3 keys),
the rest to 999 others on 5 APIs with 3 plans each; 8 % 4xx/5xx with denial causes, exponential latencies. The
rollups are then counted from those events with `GROUP BY` exactly as ingest counts them (minute rollups for
PORTICO_USAGE_MINUTE_RETENTION_DAYS, hour and day rollups for all of them), plus the current quota counters.
`--reuse` keeps a database seeded by an earlier run with the same arguments (to measure a change again).

Each case is timed `--runs` times through Django's request stack in process (test client, no HTTP server), and its
SQL is captured and run again under EXPLAIN ANALYZE: "PostgreSQL ms" is the sum of the queries' execution times
(the median of 5), which a loaded machine disturbs far less than wall-clock time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portico_bench_scale")

APIS = 5
OPERATIONS = 40
KEYS = 3
CHUNK = 1_000_000
ORG = "scale-bench"


def setup(apps: int) -> dict[str, Any]:
    """Organisations, applications with a key and a subscription each, the measured application (3 keys, an API of
    40 operations), a member and a staff user; a table mapping an application's index (0 = measured) to its ids."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from keys.models import ApiKey
    from portal.models import Api, Application, Membership, Organisation, Plan, Subscription

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE analytics_requestevent, analytics_usagerollup, analytics_quotausage")
    Subscription.objects.filter(application__organisation__name__startswith=ORG).delete()
    Organisation.objects.filter(name__startswith=ORG).delete()
    Api.objects.filter(slug__startswith=ORG).delete()
    users = get_user_model().objects
    member, _ = users.get_or_create(email="scale-bench@example.com", defaults={"username": "scale-bench"})
    staff, _ = users.get_or_create(
        email="scale-staff@example.com", defaults={"username": "scale-staff", "is_staff": True, "is_superuser": True}
    )
    paths = {f"/v1/resource{n // 2}" + ("/{id}" if n % 2 else ""): {"get": {}} for n in range(OPERATIONS)}
    apis = [
        Api.objects.create(
            name=f"Scale API {n}",
            slug=f"{ORG}-{n}",
            path_prefix=f"/{ORG}-{n}",
            upstream_url="http://x",
            openapi_document={"paths": paths},
        )
        for n in range(APIS)
    ]
    plans = [
        Plan.objects.create(
            api=api,
            name=f"plan {p}",
            slug=f"plan-{p}",
            quota_per_day=20_000 * (p + 1),
            quota_per_month=400_000 * (p + 1),
        )
        for api in apis
        for p in range(3)
    ]
    orgs = Organisation.objects.bulk_create([Organisation(name=f"{ORG} {n}") for n in range(apps // 10 or 1)])
    Membership.objects.create(organisation=orgs[0], user=member, role="owner")
    applications = Application.objects.bulk_create(
        [Application(organisation=orgs[n % len(orgs)], name="measured" if n == 0 else f"app {n}") for n in range(apps)]
    )
    keys = ApiKey.objects.bulk_create(
        [
            ApiKey(application=a, name=f"k{k}", prefix=f"ptc_live_s{n:05d}{k}", last4="abcd", digest=f"{n:060d}{k:04d}")
            for n, a in enumerate(applications)
            for k in range(KEYS if n == 0 else 1)
        ]
    )
    subscriptions = Subscription.objects.bulk_create(
        [
            Subscription(application=a, api=apis[n % APIS], plan=plans[(n % APIS) * 3 + n % 3], status="active")
            for n, a in enumerate(applications)
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_scale_apps")
        cursor.execute(
            "CREATE TABLE bench_scale_apps (idx int PRIMARY KEY, app bigint, org bigint, key bigint, prefix text,"
            " sub bigint, plan bigint, api bigint, keys int)"
        )
        first_key = {k.application_id: k for k in reversed(keys)}
        rows = [
            (n, a.pk, a.organisation_id, first_key[a.pk].pk, first_key[a.pk].prefix, s.pk, s.plan_id, s.api_id)
            for n, (a, s) in enumerate(zip(applications, subscriptions, strict=True))
        ]
        cursor.executemany("INSERT INTO bench_scale_apps VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 1)", rows)
        cursor.execute("UPDATE bench_scale_apps SET keys = %s WHERE idx = 0", [KEYS])
    return {"member": member, "staff": staff, "measured": applications[0]}


def _latency_bucket(column: str) -> str:
    """SQL for the histogram bucket of a latency as ingest picks it: bisect_left(LATENCY_BOUNDS_MS, ms), i.e. the
    number of bounds below the value (width_bucket counts those at or below, hence the negation)."""
    from analytics.models import LATENCY_BOUNDS_MS

    bounds = ", ".join(str(-b) for b in reversed(LATENCY_BOUNDS_MS))
    return f"({len(LATENCY_BOUNDS_MS)} - width_bucket(-{column}, ARRAY[{bounds}]::float8[]))"


def seed_events(events: int, apps: int, share: float, days: int) -> float:
    """INSERT the events in chunks; the measured application (index 0) gets `share` of them. Returns seconds."""
    from django.db import connection

    from analytics.services.storage import partition_create

    today = datetime.now(UTC).date()
    for n in range(days + 1):
        partition_create(day=today - timedelta(days=n))
    every = max(1, round(1 / share))
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.13)")
        for low in range(0, events, CHUNK):
            high = min(events, low + CHUNK) - 1
            # The subquery's volatile random() columns are computed once per row (PostgreSQL does not pull it up).
            cursor.execute(
                f"""
                INSERT INTO analytics_requestevent (time, gateway_id, sequence, position, request_id, method, path,
                    status, latency_ms, upstream_ms, bytes_in, bytes_out, client_ip, limit_outcome, denial_cause,
                    api_id, application_id, organisation_id, subscription_id, plan_id, key_id, key_prefix)
                SELECT now() - r.t * interval '{days * 86400 - 60} seconds', 1 + r.n % 2, r.n / 1000, r.n % 1000,
                    'scale-' || r.n, 'GET',
                    CASE WHEN r.op >= {OPERATIONS} THEN '/v1/unknown/' || r.n % 97
                         ELSE '/v1/resource' || r.op / 2 || CASE WHEN r.op % 2 = 1 THEN '/' || r.n % 9973 ELSE '' END
                    END,
                    CASE WHEN r.s < 0.05 THEN 429 WHEN r.s < 0.07 THEN 403 WHEN r.s < 0.08 THEN 500 ELSE 200 END,
                    round((-ln(1 - r.l) * 20)::numeric, 3)::float8, NULL, 300, 800, ('203.0.113.' || r.n % 250)::inet,
                    CASE WHEN r.s < 0.05 THEN 'rate' ELSE 'ok' END,
                    CASE WHEN r.s < 0.03 THEN 'rate-limited' WHEN r.s < 0.05 THEN 'quota-exceeded'
                         WHEN r.s < 0.07 THEN 'forbidden-ip' ELSE '' END,
                    a.api, a.app, a.org, a.sub, a.plan, a.key + r.n % a.keys, a.prefix
                FROM (
                    SELECT n, random() AS t, random() AS s, random() AS l,
                        CASE WHEN n % {every} = 0 THEN 0 ELSE 1 + n % {apps - 1} END AS idx,
                        CASE WHEN n % {every} = 0 THEN n / {every} % {OPERATIONS + 1} ELSE n % 6 END AS op
                    FROM generate_series({low}, {high}) AS n
                ) AS r JOIN bench_scale_apps AS a ON a.idx = r.idx
                """
            )
            print(f"  events {high + 1:,} ({time.perf_counter() - started:.0f} s)", flush=True)
        cursor.execute("ANALYZE analytics_requestevent")
    return time.perf_counter() - started


def seed_rollups(minute_days: int) -> tuple[int, float]:
    """Count minute (recent), hour and day rollups from the events with the counters ingest keeps; returns rows."""
    from django.db import connection

    from analytics.models import LATENCY_FIELDS

    bucket = _latency_bucket("latency_ms")
    histogram = ", ".join(f"count(*) FILTER (WHERE {bucket} = {i})" for i in range(len(LATENCY_FIELDS)))
    operation = (
        r"CASE WHEN path ~ '^/v1/resource\d+$' THEN 'GET ' || path"
        r" WHEN path ~ '^/v1/resource\d+/' THEN 'GET ' || substring(path from '^/v1/resource\d+') || '/{id}'"
        " ELSE 'other' END"
    )
    columns = (
        "granularity, bucket, organisation_id, application_id, key_id, client_id, api_id, status_class, operation, "
        "requests, errors, denied, auth_failures, throttled, bytes_in, bytes_out, latency_sum_ms, "
        + ", ".join(LATENCY_FIELDS)
    )
    counters = (
        "count(*), count(*) FILTER (WHERE status >= 500), count(*) FILTER (WHERE limit_outcome IN "
        "('rate', 'quota', 'blocked')), count(*) FILTER (WHERE status IN (401, 403)), "
        f"count(*) FILTER (WHERE status = 429), sum(bytes_in), sum(bytes_out), sum(latency_ms), {histogram}"
    )
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for granularity, since in (("hour", None), ("minute", minute_days)):
            where = f"WHERE time >= now() - interval '{since} days'" if since else ""
            cursor.execute(
                f"""
                INSERT INTO analytics_usagerollup ({columns})
                SELECT '{granularity}', date_trunc('{granularity}', time, 'UTC'), organisation_id, application_id,
                    key_id, 0, api_id, status / 100, op, {counters}
                FROM (SELECT *, {operation} AS op FROM analytics_requestevent {where}) AS e
                GROUP BY 2, 3, 4, 5, 7, 8, 9
                """
            )
        summed = ", ".join(f"sum({c})" for c in columns.split(", ")[9:])
        cursor.execute(
            f"""
            INSERT INTO analytics_usagerollup ({columns})
            SELECT 'day', date_trunc('day', bucket, 'UTC'), organisation_id, application_id, key_id, client_id,
                api_id, status_class, operation, {summed}
            FROM analytics_usagerollup WHERE granularity = 'hour' GROUP BY 2, 3, 4, 5, 6, 7, 8, 9
            """
        )
        # The quota counters of today and this month, from the same events (admitted requests).
        cursor.execute(
            """
            INSERT INTO analytics_quotausage (subscription_id, period, start, used)
            SELECT subscription_id, p.period, p.start, count(*) FROM analytics_requestevent,
                (VALUES ('d', (now() AT TIME ZONE 'UTC')::date),
                        ('m', date_trunc('month', now() AT TIME ZONE 'UTC')::date)) AS p (period, start)
            WHERE limit_outcome NOT IN ('rate', 'quota', 'blocked') AND time >= p.start::timestamp AT TIME ZONE 'UTC'
            GROUP BY 1, 2, 3
            """
        )
        cursor.execute("ANALYZE analytics_usagerollup")
        cursor.execute("ANALYZE analytics_quotausage")
        cursor.execute("SELECT count(*) FROM analytics_usagerollup")
        rows = cursor.fetchone()[0]
    return rows, time.perf_counter() - started


def timed(fn: Any, runs: int) -> dict[str, float]:
    """Wall-clock p50/p95/max, and the median CPU time of this process (Django's side: less disturbed by load)."""
    samples, cpu = [], []
    for _ in range(runs):
        started, cpu_started = time.perf_counter(), time.process_time()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(samples[max(0, int(len(samples) * 0.95) - 1)], 1),
        "max_ms": round(samples[-1], 1),
        "python_cpu_ms": round(statistics.median(cpu), 1),
    }


def captured(fn: Any) -> list[tuple[str, Any]]:
    """The SELECTs one call runs (sessions, auth and the like included: they are part of a page's cost)."""
    from django.db import connection

    found: list[tuple[str, Any]] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.lstrip().upper().startswith(("SELECT", "SET LOCAL")):
            found.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        fn()
    return found


def server_side(queries: list[tuple[str, Any]], repeat: int = 5) -> tuple[float, str]:
    """PostgreSQL's planning + execution time of the queries (the median of `repeat` passes), and the EXPLAIN
    (ANALYZE, BUFFERS) of the slowest."""
    from django.db import connection, transaction

    passes, slowest = [], (0.0, "")
    settings = [sql for sql, _ in queries if sql.upper().startswith("SET LOCAL")]
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in settings:  # what the page set for its transaction (the staff overview turns JIT off)
            cursor.execute(sql)
        for _ in range(repeat):
            total = 0.0
            for sql, params in queries:
                if sql in settings:
                    continue
                cursor.execute(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {sql}", params)
                found = cursor.fetchone()[0]
                plan = (json.loads(found) if isinstance(found, str) else found)[0]
                ms = plan["Planning Time"] + plan["Execution Time"]
                total += ms
                if ms > slowest[0]:
                    slowest = (ms, sql)
                    slowest_params = params
            passes.append(total)
        text = ""
        if slowest[1]:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {slowest[1]}", slowest_params)
            text = "\n".join(row[0] for row in cursor.fetchall())
    return round(statistics.median(passes), 1), text


def sizes(events: int) -> dict[str, Any]:
    """Bytes of the events (partitions with their indexes), of each events index, of the rollups, of the database."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('analytics_requestevent') WHERE isleaf"
        )
        table = int(cursor.fetchone()[0])
        cursor.execute(
            "SELECT c.relname, (SELECT sum(pg_relation_size(relid)) FROM pg_partition_tree(c.oid)) FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'analytics_requestevent'::regclass"
        )
        indexes = {name: int(size or 0) for name, size in cursor.fetchall()}
        cursor.execute("SELECT pg_total_relation_size('analytics_usagerollup'), pg_database_size(current_database())")
        rollups, database = cursor.fetchone()
    mb = 1024 * 1024
    return {
        "events_mb": round(table / mb),
        "events_mb_per_million": round(table / mb / (events / 1e6), 1),
        "event_indexes_mb": {name: round(size / mb) for name, size in indexes.items()},
        "rollups_mb": round(rollups / mb),
        "database_mb": round(database / mb),
        "database_mb_per_million_events": round(database / mb / (events / 1e6), 1),
    }


def seeded(events: int) -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('bench_scale_apps') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return False
        cursor.execute("SELECT count(*) FROM analytics_requestevent")
        return cursor.fetchone()[0] == events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--share", type=float, default=0.1, help="the measured application's share of the events")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--deep", type=int, default=20_000, help="rows into the log of the deep page")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--reuse", action="store_true", help="keep the data of an earlier run with the same sizes")
    parser.add_argument("--only", default="", help="a regular expression: time only the cases it finds")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import django

    django.setup()
    from allauth.account.models import EmailAddress
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse

    from analytics.selectors import RequestLogFilter, request_log_page
    from portal.models import Application
    from tests.factories import PASSWORD
    from tests.support.mfa import sign_in_with_totp
    from tests.support.private_services import create_database

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit("this benchmark measures PostgreSQL: set DATABASE_URL to a postgres:// URL")
    create_database(os.environ["DATABASE_URL"])
    call_command("migrate", verbosity=0)
    results: dict[str, Any] = {"events": args.events, "apps": args.apps, "share": args.share, "days": args.days}
    if args.reuse and seeded(args.events):
        print("reusing the seeded database")
    else:
        setup(args.apps)
        results["seed_events_s"] = round(seed_events(args.events, args.apps, args.share, args.days))
        rows, seconds = seed_rollups(settings.PORTICO_USAGE_MINUTE_RETENTION_DAYS)
        results["seed_rollups_s"] = round(seconds)
        print(f"seeded {args.events:,} events in {results['seed_events_s']} s, {rows:,} rollups in {seconds:.0f} s")
    users = get_user_model().objects
    member, staff = users.get(email="scale-bench@example.com"), users.get(email="scale-staff@example.com")
    app = Application.objects.get(organisation__name=f"{ORG} 0", name="measured")
    results["sizes"] = sizes(args.events)

    client = Client(HTTP_HOST="localhost")
    client.force_login(member)
    # The admin wants both factors in the session: sign in through the login form and the TOTP step.
    staff.set_password(PASSWORD)
    staff.save()
    EmailAddress.objects.get_or_create(user=staff, email=staff.email, defaults={"verified": True, "primary": True})
    admin = sign_in_with_totp(Client(HTTP_HOST="localhost"), staff)
    usage = reverse("analytics:application_usage", args=[app.pk])
    requests_page = reverse("analytics:application_requests", args=[app.pk])
    rest = f"/api/v1/applications/{app.pk}/"
    overview = reverse("admin:analytics_usagerollup_overview")
    deep = {}
    for name, filters in (("all", RequestLogFilter()), ("4xx", RequestLogFilter(status_class=4))):
        cursor = None
        for _ in range(args.deep // 1000):
            cursor = request_log_page(application=app, filters=filters, cursor=cursor, size=1000).next_cursor
        deep[name] = {"cursor": cursor} | ({"status_class": "4"} if name == "4xx" else {})
    cases: list[tuple[str, Any, str, dict[str, str]]] = [
        *((f"usage page, {p}", client, usage, {"period": p}) for p in ("hour", "day", "month")),
        ("REST usage, 24 h by hour", client, f"{rest}usage/", {"granularity": "hour"}),
        ("REST usage by endpoint, 24 h by hour", client, f"{rest}usage/endpoints/", {"granularity": "hour"}),
        ("REST usage by endpoint, 30 days by day", client, f"{rest}usage/endpoints/", {"granularity": "day"}),
        ("request log page, first", client, requests_page, {}),
        ("request log REST, first", client, f"{rest}requests/", {}),
        (f"request log page, {args.deep:,} deep", client, requests_page, deep["all"]),
        (f"request log REST, {args.deep:,} deep", client, f"{rest}requests/", deep["all"]),
        (f"request log page, 4xx {args.deep:,} deep", client, requests_page, deep["4xx"]),
        (f"request log REST, 4xx {args.deep:,} deep", client, f"{rest}requests/", deep["4xx"]),
        ("request log page, denial cause matching nothing", client, requests_page, {"denial_cause": "no-route"}),
        ("request log REST, status matching nothing", client, f"{rest}requests/", {"status": "418"}),
        *((f"staff overview, {r}", admin, overview, {"range": r}) for r in ("24h", "7d", "30d", "90d")),
    ]
    only = re.compile(args.only) if args.only else None
    for name, who, url, params in cases:
        if (only and not only.search(name)) or params.get("cursor", "") is None:
            continue
        response = who.get(url, params)
        assert response.status_code == 200, (name, response.status_code, response.content[:300])
        timing = timed(lambda w=who, u=url, p=params: w.get(u, p), args.runs)
        queries = captured(lambda w=who, u=url, p=params: w.get(u, p))
        timing["postgres_ms"], timing["slowest_plan"] = server_side(queries)
        timing["queries"] = len(queries)
        results[name] = timing
        print(
            f"{name:48} p50 {timing['p50_ms']:7.1f}  p95 {timing['p95_ms']:7.1f}  max {timing['max_ms']:7.1f}"
            f"  CPU {timing['python_cpu_ms']:6.1f}  PostgreSQL {timing['postgres_ms']:6.1f} ms ({len(queries)} q)",
            flush=True,
        )
    print(json.dumps(results["sizes"], indent=2))
    for name, value in results.items():
        if isinstance(value, dict) and value.get("slowest_plan"):
            print(f"\n--- {name}: the slowest query\n{value['slowest_plan']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
