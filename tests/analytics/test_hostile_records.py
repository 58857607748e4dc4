"""Log records are hostile input: bad ones are refused or repaired and counted, never a crash (ASVS 5.1.4, 7.3.1)."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Sum
from django.utils import timezone

from analytics.models import IngestedBatch, RequestEvent, UsageRollup
from analytics.services.ingest import batch_ingest
from tests.support.access_log import batch, record

NOW = time.time()

REJECTED: list[tuple[str, Any]] = [
    ("not an object", ["t", 1]),
    ("a string", "GET / 200"),
    ("null", None),
    ("time long ago", {"t": NOW - 400 * 86400}),
    ("time as text", {"t": "1732356000.123"}),
    ("time not a number", {"t": float("nan")}),
    ("time infinite", {"t": float("inf")}),
    ("time a boolean", {"t": True}),
    ("status too high", {"s": 999}),
    ("status too low", {"s": 42}),
    ("status as text", {"s": "200"}),
    ("status a float", {"s": 200.0}),
    ("status missing", {"s": None}),
]

SANITISED: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("negative bytes", {"bi": -5, "bo": -1}, {"bytes_in": 0, "bytes_out": 0}),
    ("absurd bytes", {"bo": 10**18}, {"bytes_out": 0}),
    ("bytes as text", {"bi": "300"}, {"bytes_in": 0}),
    ("negative latency", {"rt": -0.5}, {"latency_ms": None}),
    ("latency as text", {"rt": "fast", "ut": [1]}, {"latency_ms": None, "upstream_ms": None}),
    ("control characters", {"p": "/a\x00b\x1b[31mc\r\nd\x7f\x85e"}, {"path": "/ab[31mcde"}),
    ("huge path", {"p": "/" + "x" * 1_000_000}, {"path": "/" + "x" * 511}),
    ("huge request id", {"id": "r" * 10_000}, {"request_id": "r" * 64}),
    ("lone surrogate", {"m": "GE\ud800T"}, {"method": "GE?T"}),
    ("path of the wrong type", {"p": {"$gt": ""}}, {"path": ""}),
    ("bad client address", {"ip": "203.0.113.9\n; DROP TABLE"}, {"client_ip": None}),
    ("unknown limit outcome", {"lim": "pwned"}, {"limit_outcome": ""}),
    ("unknown denial cause", {"dc": "=cmd|pwned\x00"}, {"denial_cause": ""}),
    ("denial cause not a string", {"dc": 429}, {"denial_cause": ""}),
    ("unknown application", {"app": 10**12}, {"application_id": None, "organisation_id": None}),
    ("application id as text", {"app": "1"}, {"application_id": None}),
    ("application id a boolean", {"app": True}, {"application_id": None}),
    ("negative api id", {"api": -3}, {"api_id": None}),
    ("api id too large", {"api": 2**64}, {"api_id": None}),
    ("unknown plan", {"plan": 987654}, {"plan_id": None}),
    ("unknown subscription", {"sub": 987654}, {"subscription_id": None}),
    ("organisation that is not the application's", {"org": 987654}, {"organisation_id": "real"}),
]


def _kind_of_record(ids: dict[str, Any], fields: Any) -> Any:
    return record(ids, **fields) if isinstance(fields, dict) else fields


@pytest.mark.smoke
def test_a_batch_of_hostile_records_is_stored_clean_and_counted(gateway, ids) -> None:
    good = [record(ids) for _ in range(3)]
    rejected = [_kind_of_record(ids, fields) for _, fields in REJECTED]
    sanitised = [record(ids, **fields) for _, fields, _ in SANITISED]
    records = good + rejected + sanitised

    result = batch_ingest(gateway_id=gateway.pk, batch=batch(1, records))

    assert (result.records, result.rejected, result.sanitised) == (3 + len(SANITISED), len(REJECTED), len(SANITISED))
    stored = IngestedBatch.objects.get()
    assert (stored.records, stored.rejected, stored.sanitised) == (result.records, result.rejected, result.sanitised)
    offset = len(good) + len(rejected)
    for n, (name, _, expected) in enumerate(SANITISED):
        event = RequestEvent.objects.get(position=offset + n)
        for column, value in expected.items():
            if value == "real":
                value = ids["org"]
            assert getattr(event, column) == value, name
    assert UsageRollup.objects.filter(granularity="day").aggregate(n=Sum("requests"))["n"] == result.records


def test_stored_strings_hold_no_control_characters(gateway, ids) -> None:
    nasty = "".join(chr(c) for c in range(0x00, 0xA0)) + "\u202e\u00e9\U0001f600"
    batch_ingest(gateway_id=gateway.pk, batch=batch(1, [record(ids, p=nasty, m=nasty, id=nasty, key=nasty)]))
    event = RequestEvent.objects.get()
    for value in (event.path, event.method, event.request_id, event.key_prefix):
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value)
    assert event.path.endswith("\u202e\u00e9\U0001f600")  # visible text, RTL override included, is kept as data


def test_records_that_are_not_a_list_count_as_one_rejection(gateway) -> None:
    result = batch_ingest(gateway_id=gateway.pk, batch={"sequence": 3, "records": {"t": 1}})
    assert (result.records, result.rejected) == (0, 1)
    assert IngestedBatch.objects.get().rejected == 1


def test_a_subscription_of_another_application_is_dropped(gateway, ids, charlie, charlie_application, free_plan):
    from portal.services.applications import subscription_create

    charlies = subscription_create(actor=charlie, application=charlie_application, plan=free_plan)
    batch_ingest(gateway_id=gateway.pk, batch=batch(1, [record(ids, sub=charlies.pk)]))
    assert RequestEvent.objects.get().subscription_id is None


def test_records_a_little_ahead_of_our_clock_are_accepted(gateway, ids) -> None:
    ahead = (timezone.now() + timedelta(minutes=4)).timestamp()
    assert batch_ingest(gateway_id=gateway.pk, batch=batch(1, [record(ids, t=ahead)])).records == 1


def test_records_far_ahead_of_our_clock_are_counted_when_they_arrived_not_lost(gateway, ids) -> None:
    """A gateway clock that jumped back after logging: the batch is marked ingested, so its records must count."""
    before = timezone.now()
    ahead = [record(ids, t=(before + timedelta(hours=1)).timestamp()), record(ids, t=10**30)]

    result = batch_ingest(gateway_id=gateway.pk, batch=batch(1, ahead))

    assert (result.records, result.rejected, result.sanitised) == (2, 0, 2)
    for event in RequestEvent.objects.all():
        assert before <= event.time <= timezone.now()
    assert UsageRollup.objects.filter(granularity="day").aggregate(n=Sum("requests"))["n"] == 2


def test_a_gateway_answer_with_escapes_survives_the_json_round_trip(gateway, ids) -> None:
    raw = json.dumps(batch(1, [record(ids, p="/x\u0000y\\u0000", ip="::1")]))
    result = batch_ingest(gateway_id=gateway.pk, batch=json.loads(raw))
    assert result.records == 1
    event = RequestEvent.objects.get()
    assert (event.path, event.client_ip) == ("/xy\\u0000", "::1")
