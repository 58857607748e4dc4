"""GET /api/v1/applications/{id}/usage/: scoped, validated, and the numbers of the rollups (TEST-PLAN #31)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine

from analytics.services.ingest import batch_ingest
from tests.api.conftest import assert_problem
from tests.support.access_log import batch, record

NOW = datetime(2026, 11, 23, 12, 30, 15, tzinfo=UTC)


@pytest.fixture
def traffic(gateway, ids) -> None:
    """Five requests at 12:10 and three at 11:20 (one 500), two of them on no key, all at 10 ms."""
    at = NOW.replace(minute=10).timestamp()
    earlier = NOW.replace(hour=11, minute=20).timestamp()
    records = [record(ids, t=at, rt=0.010, bo=100) for _ in range(5)]
    records += [record(ids, t=earlier, rt=0.010, s=500, bo=100), record(ids, t=earlier, rt=0.010, bo=100)]
    records += [record(ids | {"key": ""}, t=earlier, rt=0.010, bo=100)]
    batch_ingest(gateway_id=gateway.pk, batch=batch(1, records), now=NOW)


def _url(application: Any, **query: Any) -> str:
    params = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/api/v1/applications/{application.pk}/usage/" + (f"?{params}" if params else "")


@time_machine.travel(NOW, tick=False)
def test_usage_by_hour_has_series_totals_percentiles_and_quotas(alice_api, application, traffic, subscription):
    response = alice_api.get(_url(application, granularity="hour"))

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["start"], body["end"]) == ("2026-11-22T13:00:00Z", "2026-11-23T13:00:00Z")
    assert [(p["time"], p["requests"], p["errors"]) for p in body["series"]] == [
        ("2026-11-23T11:00:00Z", 3, 1),
        ("2026-11-23T12:00:00Z", 5, 0),
    ]
    totals = body["totals"]
    assert (totals["requests"], totals["errors"], totals["bytes_out"]) == (8, 1, 800)
    assert totals["p50_ms"] == pytest.approx(10, rel=0.35)
    assert body["by_status_class"] == {"2xx": 7, "5xx": 1}
    [quota] = body["quotas"]
    assert quota["subscription"] == subscription.pk
    assert quota["day"] == {"limit": 1000, "used": 8, "resets_at": "2026-11-24T00:00:00Z"}
    assert quota["month"]["used"] == 8


@time_machine.travel(NOW, tick=False)
def test_usage_by_minute_of_one_key_in_a_range(alice_api, application, traffic, api_key) -> None:
    response = alice_api.get(
        _url(application, granularity="minute", key=api_key[0].pk, **{"from": "2026-11-23T11:00:00Z"})
    )
    assert response.status_code == 200, response.content
    assert [(p["time"], p["requests"]) for p in response.json()["series"]] == [
        ("2026-11-23T11:20:00Z", 2),
        ("2026-11-23T12:10:00Z", 5),
    ]


@time_machine.travel(NOW, tick=False)
def test_bob_as_a_member_sees_usage_and_charlie_gets_404(bob_api, charlie_api, charlie_org, application, traffic):
    assert bob_api.get(_url(application, granularity="day")).json()["totals"]["requests"] == 8
    problem = assert_problem(charlie_api.get(_url(application)), 404)
    assert "alice" not in str(problem).lower()


@pytest.mark.parametrize(
    "query",
    [
        {"granularity": "second"},
        {"granularity": "minute", "from": "2026-11-20T00:00:00Z"},  # more than a day of minutes
        {"granularity": "hour", "from": "2025-01-01T00:00:00Z"},
        {"from": "2026-11-23T12:00:00Z", "to": "2026-11-23T10:00:00Z"},
        {"from": "yesterday"},
        {"from": "0001-01-01T00:00:00Z"},
        {"api": "abc"},
        {"key": "-1"},
        {"key": str(2**64)},
        {"granularty": "hour"},
    ],
)
@time_machine.travel(NOW, tick=False)
def test_bad_parameters_are_a_400_problem(alice_api, application, query) -> None:
    body = assert_problem(alice_api.get(_url(application, **query)), 400)
    assert body.get("errors")


def test_an_application_without_traffic_has_empty_usage(alice_api, application) -> None:
    body = alice_api.get(_url(application, granularity="day")).json()
    assert body["series"] == [] and body["totals"]["requests"] == 0 and body["totals"]["p99_ms"] is None
