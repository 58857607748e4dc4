"""Request-log benchmark: one application with many raw events on PostgreSQL; first and deep keyset pages.

    .venv/bin/python -m bench.analytics.request_log [--events 1000000] [--other-events 1000000] [--days 7]
        [--deep 20000] [--runs 40] [--json out.json]

Uses its own database (`portico_bench_reqlog`, created and migrated if missing; DATABASE_URL overrides) and resets
the events table. Seeds `--events` events of one application and `--other-events` of 20 others with COPY, spread
over `--days` daily partitions (2xx mostly, some 4xx with denial causes, 5xx), ANALYZEs, then times, `--runs`
times each: the selector (first page; a page `--deep` rows into the log, reached by following cursors; the same
filtered by status class 4), the REST endpoint and the portal page through Django's full request stack (test
client, in process: no HTTP server). Prints p50/p95 per case and EXPLAIN (ANALYZE) of the first and deep pages.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
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
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portico_bench_reqlog")

PAGE = 50
OTHER_APPS = 20
CAUSES = ("rate-limited", "quota-exceeded", "forbidden-ip", "invalid-key")


def setup(days: int) -> tuple[Any, Any, list[int]]:
    """A user who is a member of an organisation with the measured application, 20 other applications, partitions."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from analytics.services.storage import partition_create
    from portal.models import Application, Membership, Organisation

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE analytics_requestevent")
    Organisation.objects.filter(name__startswith="reqlog-bench").delete()
    user, _ = get_user_model().objects.get_or_create(email="reqlog-bench@example.com", defaults={"username": "rlb"})
    org = Organisation.objects.create(name="reqlog-bench")
    Membership.objects.create(organisation=org, user=user, role="owner")
    app = Application.objects.create(organisation=org, name="measured")
    others = [Application.objects.create(organisation=org, name=f"other {n}").pk for n in range(OTHER_APPS)]
    today = datetime.now(UTC).date()
    for n in range(days + 1):
        partition_create(day=today - timedelta(days=n))
    return user, app, others


def seed(app_id: int, org_id: int, others: list[int], events: int, other_events: int, days: int) -> float:
    """COPY the events (newest now, oldest `days` back); returns seconds taken."""
    from django.db import connection

    rng = random.Random(7)
    now = datetime.now(UTC).timestamp()
    span = days * 86_400 - 60
    columns = (
        "time, gateway_id, sequence, position, request_id, method, path, status, latency_ms, upstream_ms, "
        "bytes_in, bytes_out, client_ip, limit_outcome, denial_cause, api_id, application_id, organisation_id, "
        "subscription_id, plan_id, key_id, key_prefix"
    )
    started = time.perf_counter()
    chunk = 200_000
    with connection.cursor() as cursor:
        total, position = events + other_events, 0
        while position < total:
            buffer = io.StringIO()
            for n in range(position, min(total, position + chunk)):
                app = app_id if n < events else others[n % len(others)]
                t = datetime.fromtimestamp(now - rng.random() * span, UTC)
                roll = rng.random()
                status, lim, cause = 200, "ok", ""
                if roll < 0.05:
                    status, lim, cause = 429, "rate", rng.choice(CAUSES[:2])
                elif roll < 0.07:
                    status, lim, cause = 403, "", "forbidden-ip"
                elif roll < 0.08:
                    status = 500
                buffer.write(
                    f"{t.isoformat()}\t1\t{n // 1000 + 1}\t{n % 1000}\tbench-{n}\tGET\t/items/{n % 997}\t{status}\t"
                    f"{rng.random() * 40:.3f}\t\\N\t300\t800\t203.0.113.{n % 250}\t{lim}\t{cause}\t1\t{app}\t{org_id}\t"
                    f"\\N\t\\N\t{n % 3 + 1}\tptc_live_bench{n % 3}\n"
                )
            with cursor.cursor.copy(f"COPY analytics_requestevent ({columns}) FROM STDIN") as copy:
                copy.write(buffer.getvalue())
            position += chunk
        cursor.execute("ANALYZE analytics_requestevent")
    return time.perf_counter() - started


def timed(fn: Any, runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[max(0, int(len(samples) * 0.95) - 1)], 2),
        "max_ms": round(samples[-1], 2),
    }


def deep_cursor(app: Any, filters: Any, depth: int) -> str | None:
    """The cursor `depth` rows into the log, reached as a reader would: following cursors page by page."""
    from analytics.selectors import request_log_page

    cursor = None
    for _ in range(depth // 1000):
        cursor = request_log_page(application=app, filters=filters, cursor=cursor, size=1000).next_cursor
    return cursor


def plan(app: Any, filters: Any, cursor: str | None) -> str:
    from analytics.selectors import _before, request_events, request_log_position

    events = request_events(application=app, filters=filters)
    if cursor:
        events = events.filter(_before(*request_log_position(cursor)))
    return events[: PAGE + 1].explain(analyze=True, buffers=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--other-events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--deep", type=int, default=20_000, help="rows into the log of the deep page")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse

    from analytics.models import RequestEvent
    from analytics.selectors import REQUEST_LOG_ORDER, RequestLogFilter, request_event_get, request_log_page
    from tests.support.private_services import create_database

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit("this benchmark measures PostgreSQL: set DATABASE_URL to a postgres:// URL")
    create_database(os.environ["DATABASE_URL"])
    call_command("migrate", verbosity=0)
    user, app, others = setup(args.days)
    seconds = seed(app.pk, app.organisation_id, others, args.events, args.other_events, args.days)
    print(f"seeded {args.events + args.other_events:,} events in {seconds:.1f} s")

    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    api = f"/api/v1/applications/{app.pk}/requests/"
    page = reverse("analytics:application_requests", args=[app.pk])
    results: dict[str, Any] = {"events": args.events, "other_events": args.other_events, "deep_rows": args.deep}
    for label, filters, query in (("all", RequestLogFilter(), {}), ("4xx", RequestLogFilter(status_class=4), {})):
        if label == "4xx":
            query = {"status_class": "4"}
        deep = deep_cursor(app, filters, args.deep)
        assert deep, "the log is shorter than --deep"
        for where, cursor in (("first", None), ("deep", deep)):
            params = query | ({"cursor": cursor} if cursor else {})
            for response in (client.get(api, params), client.get(page, params)):
                assert response.status_code == 200, response.content[:300]
            results[f"{label}/{where}/selector"] = timed(
                lambda f=filters, c=cursor: request_log_page(application=app, filters=f, cursor=c, size=PAGE), args.runs
            )
            results[f"{label}/{where}/rest"] = timed(lambda p=params: client.get(api, p), args.runs)
            results[f"{label}/{where}/page"] = timed(lambda p=params: client.get(page, p), args.runs)
            results[f"{label}/{where}/plan"] = plan(app, filters, cursor)
    # A look-up by request id (an event in the middle of the log), and a filter that matches nothing: the keyset
    # walks the application's whole index for it, the worst case of a filter without its own index.
    middle = f"bench-{args.events // 2}"
    results["lookup/selector"] = timed(lambda: request_event_get(application=app, request_id=middle), args.runs)
    results["lookup/rest"] = timed(lambda: client.get(f"{api}{middle}/"), args.runs)
    results["lookup/plan"] = (
        RequestEvent.objects.filter(application_id=app.pk, request_id=middle).order_by(*REQUEST_LOG_ORDER)[:1]
    ).explain(analyze=True, buffers=True)
    nothing = RequestLogFilter(denial_cause="no-route")
    results["no-match/selector"] = timed(
        lambda: request_log_page(application=app, filters=nothing, size=PAGE), max(3, args.runs // 10)
    )
    for name, value in results.items():
        if isinstance(value, dict):
            print(
                f"{name:24} p50 {value['p50_ms']:8.2f} ms  p95 {value['p95_ms']:8.2f} ms  max {value['max_ms']:8.2f} ms"
            )
    for name in ("all/first/plan", "all/deep/plan", "4xx/deep/plan", "lookup/plan"):
        print(f"\n--- {name}\n{results[name]}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
