"""Usage-by-endpoint benchmark: one application's rollups with many operations on PostgreSQL; the selector, the
REST endpoint and the usage page (which also draws the outcome and latency charts) per period.

    .venv/bin/python -m bench.analytics.endpoints [--operations 40] [--keys 3] [--days 30] [--other-apps 10]
        [--runs 20] [--json out.json]

Uses its own database (`portico_bench_endpoints`, created and migrated if missing; DATABASE_URL overrides) and
resets the rollups table. Seeds with COPY, for the measured application, every (bucket, key, operation, status class
2/4/5) group: minute rollups for the last 2 hours, hour rollups for `--days`, day rollups for 90 days; and hour
rollups of `--other-apps` applications with 5 operations each (neighbours in the index). ANALYZEs, then times,
`--runs` times each: `usage_by_operation` and `outcomes_over_time` for the hour, day and month periods, the REST
endpoint (`/usage/endpoints/` for 24 hours by hour) and the whole usage page through Django's request stack (test
client, in process: no HTTP server). Prints p50/p95 per case, the row counts and EXPLAIN (ANALYZE) of the month's
per-operation query.
"""

from __future__ import annotations

import argparse
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
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portico_bench_endpoints")

CLASSES = (2, 4, 5)


def setup(operations: int, keys: int, other_apps: int) -> tuple[Any, Any, Any, list[int]]:
    """A member of an organisation with the measured application and its keys, an API documenting `operations`
    operations, and the other applications."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from keys.models import ApiKey
    from portal.models import Api, Application, Membership, Organisation

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE analytics_usagerollup")
    Organisation.objects.filter(name__startswith="endpoints-bench").delete()
    Api.objects.filter(slug="endpoints-bench").delete()
    user, _ = get_user_model().objects.get_or_create(email="endpoints-bench@example.com", defaults={"username": "epb"})
    org = Organisation.objects.create(name="endpoints-bench")
    Membership.objects.create(organisation=org, user=user, role="owner")
    paths = {f"/v1/resource{n // 2}" + ("/{id}" if n % 2 else ""): {"get": {}} for n in range(operations)}
    api = Api.objects.create(
        name="Bench API",
        slug="endpoints-bench",
        path_prefix="/endpoints-bench",
        upstream_url="http://x",
        openapi_document={"paths": paths},
    )
    app = Application.objects.create(organisation=org, name="measured")
    for n in range(keys):
        ApiKey.objects.create(
            application=app, name=f"k{n}", prefix=f"ptc_live_bench{n:03d}", last4="abcd", digest=os.urandom(32).hex()
        )
    others = [Application.objects.create(organisation=org, name=f"other {n}").pk for n in range(other_apps)]
    return user, app, api, others


# rows in ROLLUP_COLUMNS order: granularity, bucket, organisation, application, key, OAuth client (none here), API,
# status class, operation, then the counters
def seed(app: Any, api: Any, others: list[int], operations: int, days: int) -> int:
    """COPY the rollups; returns the number of rows."""
    from django.db import connection

    from analytics.services.rollups import COUNTERS, N_COUNTERS, ROLLUP_COLUMNS

    rng = random.Random(5)
    now = datetime.now(UTC)
    names = [f"GET /v1/resource{n // 2}" + ("/{id}" if n % 2 else "") for n in range(operations)] + ["other"]
    key_ids = list(app.keys.values_list("pk", flat=True))
    plans = (
        ("minute", now.replace(second=0, microsecond=0), timedelta(minutes=1), 120),
        ("hour", now.replace(minute=0, second=0, microsecond=0), timedelta(hours=1), days * 24),
        ("day", now.replace(hour=0, minute=0, second=0, microsecond=0), timedelta(days=1), 90),
    )
    latency_at = COUNTERS.index("lat_00")

    def counters(status_class: int) -> list[float]:
        row: list[float] = [0] * N_COUNTERS
        requests = rng.randint(1, 200) if status_class == 2 else rng.randint(0, 8)
        row[0] = requests
        row[1] = requests if status_class == 5 else 0
        row[latency_at + rng.randint(5, 14)] = requests  # 8 to 500 ms
        return row

    rows = 0
    columns = ", ".join(ROLLUP_COLUMNS)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY analytics_usagerollup ({columns}) FROM STDIN") as copy,
    ):
        for granularity, last, step, count in plans:
            for n in range(count):
                bucket = last - n * step
                for key_id in key_ids:
                    for operation in names:
                        for status_class in CLASSES:
                            group = (app.organisation_id, app.pk, key_id, 0, api.pk, status_class, operation)
                            copy.write_row((granularity, bucket, *group, *counters(status_class)))
                            rows += 1
                if granularity == "hour":
                    for other in others:
                        for operation in names[:5]:
                            group = (app.organisation_id, other, 0, 0, api.pk, 2, operation)
                            copy.write_row((granularity, bucket, *group, *counters(2)))
                            rows += 1
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE analytics_usagerollup")
    return rows


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--operations", type=int, default=40)
    parser.add_argument("--keys", type=int, default=3)
    parser.add_argument("--days", type=int, default=30, help="days of hour rollups")
    parser.add_argument("--other-apps", type=int, default=10)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db.models import Sum
    from django.test import Client
    from django.urls import reverse
    from django.utils import timezone

    from analytics.selectors import rollups_in, usage_window
    from analytics.selectors.endpoints import outcomes_over_time, usage_by_operation
    from tests.support.private_services import create_database

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit("this benchmark measures PostgreSQL: set DATABASE_URL to a postgres:// URL")
    create_database(os.environ["DATABASE_URL"])
    call_command("migrate", verbosity=0)
    user, app, api, others = setup(args.operations, args.keys, args.other_apps)
    started = time.perf_counter()
    rows = seed(app, api, others, args.operations, args.days)
    print(f"seeded {rows:,} rollup rows in {time.perf_counter() - started:.1f} s")

    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    rest = f"/api/v1/applications/{app.pk}/usage/endpoints/"
    page = reverse("analytics:application_usage", args=[app.pk])
    results: dict[str, Any] = {"rollup_rows": rows, "operations": args.operations + 1, "keys": args.keys}
    for period in ("hour", "day", "month"):
        granularity, start, end = usage_window(period=period, now=timezone.now())
        found = usage_by_operation(application=app, granularity=granularity, start=start, end=end)
        assert len(found) == args.operations + 1, len(found)
        results[f"{period}/rows-read"] = rollups_in(
            granularity=granularity, start=start, end=end, application_id=app.pk
        ).count()
        results[f"{period}/requests"] = sum(o.requests for o in found)
        assert (
            results[f"{period}/requests"]
            == (
                rollups_in(granularity=granularity, start=start, end=end, application_id=app.pk).aggregate(
                    n=Sum("requests")
                )["n"]
            )
        )
        scope = {"application": app, "granularity": granularity, "start": start, "end": end}
        results[f"{period}/by-operation"] = timed(lambda s=scope: usage_by_operation(**s), args.runs)
        results[f"{period}/outcomes"] = timed(lambda s=scope: outcomes_over_time(**s), args.runs)
        assert client.get(page, {"period": period}).status_code == 200
        results[f"{period}/page"] = timed(lambda p=period: client.get(page, {"period": p}), args.runs)
    assert client.get(rest, {"granularity": "hour"}).status_code == 200
    results["rest/24h-by-hour"] = timed(lambda: client.get(rest, {"granularity": "hour"}), args.runs)
    granularity, start, end = usage_window(period="month", now=timezone.now())
    results["month/plan"] = (
        rollups_in(granularity=granularity, start=start, end=end, application_id=app.pk)
        .values("api_id", "operation")
        .annotate(n=Sum("requests"))
        .explain(analyze=True, buffers=True)
    )
    for name, value in results.items():
        if isinstance(value, dict):
            print(
                f"{name:20} p50 {value['p50_ms']:8.2f} ms  p95 {value['p95_ms']:8.2f} ms  max {value['max_ms']:8.2f} ms"
            )
        elif name != "month/plan":
            print(f"{name:20} {value:,}")
    print(f"\n--- month/plan\n{results['month/plan']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
