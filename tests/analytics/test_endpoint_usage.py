"""Usage by endpoint, outcomes and latency over time: the REST endpoint and the usage page's sections (issue #13)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from analytics.charts import latency_chart, outcomes_chart
from analytics.models import UsageRollup
from analytics.selectors.endpoints import OUTCOMES
from analytics.services.ingest import batch_ingest
from tests.api.conftest import assert_problem
from tests.portal.pages_helpers import text
from tests.support.access_log import batch, record

NOW = datetime(2026, 11, 23, 12, 30, 15, tzinfo=UTC)
SPEC = {"paths": {"/users": {"get": {}}, "/users/{id}": {"get": {}, "delete": {}}}}


@pytest.fixture
def traffic(gateway: Any, ids: dict[str, Any], api: Any) -> None:
    """At 12:10: /users/1 and /users/2 (one 500), a 404 and a 401 on /users/3, a 429 on /users, a random path."""
    api.openapi_document = SPEC
    api.save()
    at = NOW.replace(minute=10).timestamp()
    records = [
        record(ids, t=at, p="/weather/users/1", rt=0.010),
        record(ids, t=at, p="/weather/users/2", rt=0.020, s=500),
        record(ids, t=at, p="/weather/users/3", rt=0.010, s=404),
        record(ids, t=at, p="/weather/users/3", rt=0.001, s=401, lim=""),
        record(ids, t=at, p="/weather/users", rt=0.001, s=429, lim="rate"),
        record(ids, t=at, p="/weather/x7f3/../../etc", rt=0.005),
        record(ids, t=NOW.replace(hour=11, minute=5).timestamp(), m="DELETE", p="/weather/users/9", rt=0.300),
    ]
    batch_ingest(gateway_id=gateway.pk, batch=batch(1, records), now=NOW)


def _url(application: Any, **query: Any) -> str:
    params = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/api/v1/applications/{application.pk}/usage/endpoints/" + (f"?{params}" if params else "")


@pytest.mark.smoke
@time_machine.travel(NOW, tick=False)
def test_each_operation_has_requests_4xx_5xx_and_latency(alice_api, application, api, traffic) -> None:
    response = alice_api.get(_url(application, granularity="hour"))

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["start"], body["end"]) == ("2026-11-22T13:00:00Z", "2026-11-23T13:00:00Z")
    rows = {row["operation"]: row for row in body["results"]}
    assert [row["operation"] for row in body["results"]] == [
        "GET /users/{id}",
        "DELETE /users/{id}",
        "GET /users",
        "other",
    ]
    users = rows["GET /users/{id}"]
    assert (users["requests"], users["client_errors"], users["server_errors"]) == (4, 2, 1)
    assert (users["method"], users["path_template"], users["api"], users["api_name"]) == (
        "GET",
        "/users/{id}",
        api.pk,
        api.name,
    )
    assert users["p50_ms"] == pytest.approx(10, rel=0.35)
    assert rows["GET /users"]["denied"] == 1
    assert rows["DELETE /users/{id}"]["p95_ms"] == pytest.approx(300, rel=0.35)
    assert (rows["other"]["requests"], rows["other"]["method"], rows["other"]["path_template"]) == (1, "", "")


@time_machine.travel(NOW, tick=False)
def test_endpoint_usage_narrows_to_a_range_and_a_key(alice_api, application, api_key, traffic) -> None:
    body = alice_api.get(_url(application, granularity="minute", **{"from": "2026-11-23T12:00:00Z"})).json()
    assert {row["operation"] for row in body["results"]} == {"GET /users/{id}", "GET /users", "other"}
    assert alice_api.get(_url(application, key=api_key[0].pk + 1000)).json()["results"] == []


@time_machine.travel(NOW, tick=False)
def test_endpoint_usage_is_one_rollup_query_whatever_the_number_of_operations(
    alice_api, alice_client, application, traffic
) -> None:
    rollups = UsageRollup._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        assert alice_api.get(_url(application)).status_code == 200
    assert len([q for q in queries if rollups in q["sql"]]) == 1
    with CaptureQueriesContext(connection) as queries:
        assert alice_client.get(reverse("analytics:application_usage", args=[application.pk])).status_code == 200
    # one pass for the series and operations (histograms), one for status classes, outcomes, keys and clients
    assert len([q for q in queries if rollups in q["sql"]]) == 2


@time_machine.travel(NOW, tick=False)
def test_a_member_sees_endpoint_usage_and_an_outsider_gets_404(bob_api, charlie_api, charlie_org, application, traffic):
    assert bob_api.get(_url(application)).status_code == 200
    problem = assert_problem(charlie_api.get(_url(application)), 404)
    assert "alice" not in str(problem).lower()


@pytest.mark.parametrize("query", [{"granularity": "week"}, {"granularity": "minute", "from": "2026-11-01T00:00:00Z"}])
@time_machine.travel(NOW, tick=False)
def test_a_bad_query_is_a_400_problem(alice_api, application, query) -> None:
    assert_problem(alice_api.get(_url(application, **query)), 400)


@pytest.mark.smoke
@time_machine.travel(NOW, tick=False)
def test_the_usage_page_shows_endpoints_outcomes_and_latency_with_data_tables(
    alice_client: Client, application: Any, subscription: Any, traffic: None
) -> None:
    response = alice_client.get(reverse("analytics:application_usage", args=[application.pk]))

    assert response.status_code == 200
    page = text(response)
    table = page.split('id="usage-by-endpoint"', 1)[1].split("</section>", 1)[0]
    assert re.findall(r'data-operation="([^"]*)"', table) == [
        "GET /users/{id}", "DELETE /users/{id}", "GET /users", "other"
    ]  # fmt: skip
    assert "Other (matches no operation)" in table and "/weather/x7f3" not in page
    outcomes = response.context["outcome_chart"]
    bar = outcomes.bars[-1]  # 12:00, the bucket holding now
    assert bar.counts == {"ok": 2, "client": 1, "auth": 1, "throttled": 1, "server": 1}
    assert outcomes.totals == {"ok": 3, "client": 1, "auth": 1, "throttled": 1, "server": 1}
    for section in ("outcomes-chart", "latency-chart"):
        part = page.split(f'id="{section}"', 1)[1].split("</section>", 1)[0]
        assert 'role="img"' in part and "<title" in part and "<desc" in part
        assert re.search(r"<details[^>]*>\s*<summary>[^<]+</summary>\s*<div class=\"table-wrap\"><table>", part)
    latency = response.context["latency_chart"]
    assert [row.requests for row in latency.rows] == [1, 6]
    assert {line.name for line in latency.lines} == {"p50", "p95", "p99"}
    assert all(len(line.dots) == 2 and len(line.polylines) == 1 for line in latency.lines)  # adjacent hours


@time_machine.travel(NOW, tick=False)
def test_a_bob_sees_the_endpoint_table_and_charlie_gets_404(bob_client, charlie_client, application, traffic):
    url = reverse("analytics:application_usage", args=[application.pk])
    assert 'id="usage-by-endpoint"' in text(bob_client.get(url))
    assert charlie_client.get(url).status_code == 404


def test_the_outcome_chart_stacks_every_category_and_the_latency_chart_breaks_at_gaps() -> None:
    start = datetime(2026, 11, 23, 10, tzinfo=UTC)
    hour = start.replace(hour=11) - start
    counts = {start: {"ok": 5, "client": 1, "auth": 2, "throttled": 1, "server": 1}}
    chart = outcomes_chart(
        granularity="hour", start=start, end=start + 4 * hour, step=hour, counts=counts, categories=OUTCOMES
    )
    first = chart.bars[0]
    assert [p.key for p in first.parts] == ["ok", "client", "auth", "throttled", "server"]
    assert chart.y_ticks[-1].text == "20"  # the round ceiling above 10
    assert sum(p.height for p in first.parts) == pytest.approx((chart.bottom - chart.top) * 10 / 20, abs=0.05)
    assert first.parts[-1].y == pytest.approx(chart.bottom - (chart.bottom - chart.top) * 10 / 20, abs=0.05)
    assert [b.total for b in chart.bars] == [10, 0, 0, 0] and chart.description.startswith("5 2xx")

    points = {
        start: (3, {"p50": 10.0, "p95": 40.0, "p99": 90.0}),
        start + 2 * hour: (1, {"p50": 5.0, "p95": 5.0, "p99": 5.0}),
    }
    lines = latency_chart(granularity="hour", start=start, end=start + 4 * hour, step=hour, points=points)
    assert [len(line.polylines) for line in lines.lines] == [2, 2, 2]
    assert lines.y_ticks[-1].text == "200 ms" and lines.peak_ms == 90.0
