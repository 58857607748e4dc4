"""batch_ingest: exactly-once counting into events, rollups and key use (TEST-PLAN #14, #15)."""

from __future__ import annotations

import random
from bisect import bisect_left
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db.models import Sum
from django.utils import timezone

from analytics.models import LATENCY_BOUNDS_MS, LATENCY_FIELDS, IngestedBatch, RequestEvent, UsageRollup
from analytics.selectors import usage_percentiles
from analytics.services.ingest import InvalidBatch, batch_ingest
from keys.models import ApiKey
from keys.services import key_issue
from tests.support.access_log import batch, record


def _totals(granularity: str) -> dict[str, int]:
    sums = UsageRollup.objects.filter(granularity=granularity).aggregate(
        requests=Sum("requests"), errors=Sum("errors"), bytes_in=Sum("bytes_in"), bytes_out=Sum("bytes_out")
    )
    return {k: v or 0 for k, v in sums.items()}


@pytest.mark.smoke
def test_a_batch_becomes_events_and_minute_hour_and_day_rollups(gateway, ids) -> None:
    now = timezone.now().replace(second=30, microsecond=0)
    t = now.timestamp()
    records = [
        record(ids, t=t - 1, s=200, rt=0.004, bi=100, bo=1000),
        record(ids, t=t - 2, s=201, rt=0.010, bi=200, bo=2000),
        record(ids, t=t - 3, s=404, rt=0.001, bi=300, bo=3000),
        record(ids, t=t - 4, s=503, rt=0.300, bi=400, bo=4000),
        record(t=t - 5, s=401, rt=0.0, key="ptc_live_Xxxxxxxx", lim=""),  # unknown key: no ids at all
    ]

    result = batch_ingest(gateway_id=gateway.pk, batch=batch(1, records), now=now)

    assert (result.records, result.rejected, result.sanitised, result.duplicate) == (5, 0, 0, False)
    assert RequestEvent.objects.count() == 5
    event = RequestEvent.objects.get(status=503)
    assert (event.application_id, event.key_id, event.subscription_id) == (
        ids["app"],
        ApiKey.objects.get().pk,
        ids["sub"],
    )
    assert event.latency_ms == pytest.approx(300.0)
    assert str(event.client_ip) == "203.0.113.9"
    for granularity in ("minute", "hour", "day"):
        assert _totals(granularity) == {"requests": 5, "errors": 1, "bytes_in": 1300, "bytes_out": 10800}
    minute = now.replace(second=0)
    app_rows = UsageRollup.objects.filter(granularity="minute", application_id=ids["app"])
    assert {(r.status_class, r.requests, r.bucket) for r in app_rows} == {
        (2, 2, minute),
        (4, 1, minute),
        (5, 1, minute),
    }
    anonymous = UsageRollup.objects.get(granularity="day", application_id=0)
    assert (anonymous.status_class, anonymous.key_id, anonymous.bucket) == (4, 0, minute.replace(hour=0, minute=0))
    assert IngestedBatch.objects.get().records == 5


@pytest.mark.smoke
def test_the_same_batch_twice_is_counted_once(gateway, ids) -> None:
    page = batch(7, [record(ids) for _ in range(20)])

    first = batch_ingest(gateway_id=gateway.pk, batch=page)
    again = batch_ingest(gateway_id=gateway.pk, batch=page)

    assert (first.duplicate, again.duplicate) == (False, True)
    assert RequestEvent.objects.count() == 20
    assert _totals("minute")["requests"] == _totals("day")["requests"] == 20


def test_shuffled_and_repeated_batches_sum_exactly(gateway, ids) -> None:
    rng = random.Random(4)
    base = timezone.now().timestamp() - 7200
    pages = [
        batch(seq, [record(ids, t=base + rng.uniform(0, 7000), s=rng.choice([200, 200, 404, 500])) for _ in range(30)])
        for seq in range(1, 41)
    ]
    expected = {"requests": 1200, "errors": sum(r["s"] >= 500 for p in pages for r in p["records"])}
    deliveries = pages + rng.sample(pages, 15)  # some delivered twice
    rng.shuffle(deliveries)

    results = [batch_ingest(gateway_id=gateway.pk, batch=page) for page in deliveries]

    assert sum(r.duplicate for r in results) == 15
    for granularity in ("minute", "hour", "day"):
        totals = _totals(granularity)
        assert (totals["requests"], totals["errors"]) == (expected["requests"], expected["errors"])
    assert RequestEvent.objects.count() == 1200
    assert IngestedBatch.objects.count() == 40


def test_batches_of_different_gateways_with_the_same_sequence_both_count(gateway, ids) -> None:
    other = type(gateway).objects.create(name="edge-2", admin_url="http://127.0.0.1:9")
    batch_ingest(gateway_id=gateway.pk, batch=batch(1, [record(ids)]))
    batch_ingest(gateway_id=other.pk, batch=batch(1, [record(ids)]))
    assert _totals("day")["requests"] == 2


def test_rollup_buckets_follow_the_event_time_across_hours_and_days(gateway, ids) -> None:
    midnight = datetime(2026, 11, 23, tzinfo=UTC)
    times = [midnight - timedelta(seconds=1), midnight, midnight + timedelta(minutes=59, seconds=59)]
    batch_ingest(
        gateway_id=gateway.pk,
        batch=batch(1, [record(ids, t=t.timestamp()) for t in times]),
        now=midnight + timedelta(hours=2),
    )

    def buckets(granularity: str) -> dict[datetime, int]:
        rows = UsageRollup.objects.filter(granularity=granularity)
        return {row["bucket"]: row["n"] for row in rows.values("bucket").annotate(n=Sum("requests"))}

    assert buckets("minute") == {
        midnight - timedelta(minutes=1): 1,
        midnight: 1,
        midnight + timedelta(minutes=59): 1,
    }
    assert buckets("hour") == {midnight - timedelta(hours=1): 1, midnight: 2}
    assert buckets("day") == {midnight - timedelta(days=1): 1, midnight: 2}


def test_latency_percentiles_fall_in_the_bucket_of_the_true_value(gateway, ids) -> None:
    # 100 requests of 1..100 ms: the true p50, p95 and p99 are 50, 95 and 99 ms.
    batch_ingest(gateway_id=gateway.pk, batch=batch(1, [record(ids, rt=ms / 1000) for ms in range(1, 101)]))
    row = UsageRollup.objects.filter(granularity="day").aggregate(**{f: Sum(f) for f in LATENCY_FIELDS})
    histogram = [row[f] for f in LATENCY_FIELDS]
    assert sum(histogram) == 100

    estimate = usage_percentiles(histogram)

    def bucket(ms: float) -> int:
        return bisect_left(LATENCY_BOUNDS_MS, ms)

    assert {name: bucket(value) for name, value in estimate.items()} == {
        "p50": bucket(50),
        "p95": bucket(95),
        "p99": bucket(99),
    }
    assert estimate["p50"] == pytest.approx(50, rel=0.1)
    assert usage_percentiles([0] * len(LATENCY_FIELDS)) == {"p50": None, "p95": None, "p99": None}
    assert usage_percentiles([0] * (len(LATENCY_FIELDS) - 1) + [3])["p99"] == LATENCY_BOUNDS_MS[-1]  # "at least"


def test_keys_last_used_at_moves_forward_only(gateway, ids, api_key) -> None:
    key = api_key[0]
    later = timezone.now().replace(microsecond=0)
    earlier = later - timedelta(minutes=10)

    batch_ingest(gateway_id=gateway.pk, batch=batch(1, [record(ids, t=later.timestamp())]))
    batch_ingest(gateway_id=gateway.pk, batch=batch(2, [record(ids, t=earlier.timestamp())]))  # arrives late

    key.refresh_from_db()
    assert key.last_used_at == later


def test_a_prefix_of_another_application_is_not_attributed(gateway, ids, charlie, charlie_application) -> None:
    charlies_key, _ = key_issue(actor=charlie, application=charlie_application, name="c")
    result = batch_ingest(gateway_id=gateway.pk, batch=batch(1, [record(ids, key=charlies_key.prefix)]))
    assert result.records == 1
    assert RequestEvent.objects.get().key_id is None
    charlies_key.refresh_from_db()
    assert charlies_key.last_used_at is None


@pytest.mark.parametrize(
    "envelope", [None, [], {"records": []}, {"sequence": "5"}, {"sequence": -1}, {"sequence": 1.0}]
)
def test_a_batch_without_an_integer_sequence_is_refused(gateway, envelope: Any) -> None:
    with pytest.raises(InvalidBatch):
        batch_ingest(gateway_id=gateway.pk, batch=envelope)
    assert not IngestedBatch.objects.exists()


def test_event_times_are_written_to_the_microsecond_datetime_would_give() -> None:
    """The COPY text of a time is built without a datetime per event; it must round exactly like one."""
    import random
    from datetime import UTC, datetime

    from analytics.services.events import timestamp_text as _timestamp_text

    rng = random.Random(7)
    samples = [rng.uniform(1.7e9, 1.9e9) for _ in range(20_000)]
    samples += [1795000000.0000005, 1795000000.0000015, 1795000000.9999996, 1795000000, 1795000000.5]
    for t in samples:
        expected = f"{datetime.fromtimestamp(t, UTC):%Y-%m-%d %H:%M:%S.%f}+00"
        assert _timestamp_text(t) == expected, t
