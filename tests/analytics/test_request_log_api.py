"""GET /api/v1/applications/{id}/requests/ and …/{request_id}/: the request log, scoped, filtered, by keyset."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics.models import RequestEvent
from analytics.services.ingest import batch_ingest
from portal.models import Application
from tests.api.conftest import assert_problem
from tests.support.access_log import batch, record

NOW = datetime(2026, 11, 23, 12, 30, 15, tzinfo=UTC)


@pytest.fixture
def traffic(gateway, ids) -> list[dict[str, Any]]:
    """Twelve requests a second apart from 12:00:00: ten 200s, a rate-limited 429 and an invalid-key 401."""
    start = NOW.replace(minute=0, second=0).timestamp()
    records = [record(ids, t=start + n, id=f"ok-{n}", p=f"/weather/items/{n}", rt=0.002) for n in range(10)]
    records.append(record(ids, t=start + 10, id="limited-1", s=429, lim="rate", dc="rate-limited", m="POST"))
    records.append(
        record(ids | {"key": ""}, t=start + 11, id="badkey-1", s=401, lim="", dc="invalid-key", ip="198.51.100.7")
    )
    batch_ingest(gateway_id=gateway.pk, batch=batch(1, records), now=NOW)
    return records


def _url(application: Any, **query: Any) -> str:
    return f"/api/v1/applications/{application.pk}/requests/" + (f"?{urlencode(query)}" if query else "")


def _ids(body: dict[str, Any]) -> list[str]:
    return [row["request_id"] for row in body["results"]]


@time_machine.travel(NOW, tick=False)
def test_the_log_is_newest_first_with_every_field(alice_api, application, traffic, api_key) -> None:
    response = alice_api.get(_url(application))

    assert response.status_code == 200, response.content
    body = response.json()
    assert _ids(body) == ["badkey-1", "limited-1", *[f"ok-{n}" for n in range(9, -1, -1)]]
    assert body["next_cursor"] is None and body["next"] is None
    assert body["retention_days"] == 30
    limited = body["results"][1]
    assert limited == {
        "time": "2026-11-23T12:00:10Z",
        "request_id": "limited-1",
        "method": "POST",
        "path": "/weather/today",
        "status": 429,
        "latency_ms": 4.0,
        "upstream_ms": 3.0,
        "key": api_key[0].pk,
        "key_prefix": api_key[0].prefix,
        "client_ip": "203.0.113.9",
        "api": application.subscriptions.get().api_id,
        "limit_outcome": "rate",
        "denial_cause": "rate-limited",
    }
    assert body["results"][0]["key"] is None and body["results"][0]["denial_cause"] == "invalid-key"


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status_class": 4}, ["badkey-1", "limited-1"]),
        ({"status": 429}, ["limited-1"]),
        ({"method": "POST"}, ["limited-1"]),
        ({"path_prefix": "/weather/items/1"}, ["ok-1"]),
        ({"client_ip": "198.51.100.7"}, ["badkey-1"]),
        ({"denial_cause": "invalid-key"}, ["badkey-1"]),
        ({"from": "2026-11-23T12:00:08Z", "to": "2026-11-23T12:00:10Z"}, ["ok-9", "ok-8"]),
    ],
)
def test_each_filter_narrows_the_log(alice_api, application, traffic, query, expected) -> None:
    response = alice_api.get(_url(application, **query))
    assert response.status_code == 200, response.content
    assert _ids(response.json()) == expected


@time_machine.travel(NOW, tick=False)
def test_the_key_filter_keeps_that_keys_requests(alice_api, application, traffic, api_key) -> None:
    body = alice_api.get(_url(application, key=api_key[0].pk)).json()
    assert "badkey-1" not in _ids(body) and len(_ids(body)) == 11


@pytest.mark.smoke
@time_machine.travel(NOW, tick=False)
def test_pages_follow_the_keyset_without_gaps_or_repeats(alice_api, application, traffic) -> None:
    seen: list[str] = []
    url: str | None = _url(application, page_size=5, status_class=2)
    pages = 0
    while url:
        response = alice_api.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        seen += _ids(body)
        url, pages = body["next"], pages + 1
        assert url is None or "status_class=2" in url
    assert pages == 2
    assert seen == [f"ok-{n}" for n in range(9, -1, -1)]


@time_machine.travel(NOW, tick=False)
def test_a_page_is_one_query_for_the_events(alice_api, application, traffic) -> None:
    first = alice_api.get(_url(application, page_size=3)).json()
    with CaptureQueriesContext(connection) as queries:
        response = alice_api.get(_url(application, page_size=3, cursor=first["next_cursor"]))
    assert response.status_code == 200
    event_queries = [q["sql"] for q in queries if RequestEvent._meta.db_table in q["sql"]]
    assert len(event_queries) == 1
    assert "OFFSET" not in event_queries[0].upper()


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    "cursor", ["nonsense", "W10:1abc:def", "eyJhIjoxfQ:1tX:forged", "%00", "x" * 400, "ZZZZ" + "A" * 100]
)
def test_a_forged_or_damaged_cursor_is_a_400_problem(alice_api, application, traffic, cursor) -> None:
    body = assert_problem(alice_api.get(_url(application, cursor=cursor)), 400)
    assert "cursor" in str(body)


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    "query",
    [
        {"status_class": 6},
        {"status": 99},
        {"status": "x"},
        {"method": "get"},
        {"path_prefix": "weather"},
        {"path_prefix": "/a?api_key=1"},
        {"path_prefix": "/a\x00b"},
        {"client_ip": "300.1.1.1"},
        {"denial_cause": "because"},
        {"key": 0},
        {"from": "2026-11-23T12:00:08Z", "to": "2026-11-23T12:00:08Z"},
        {"from": "9999-12-31T23:59:59Z"},
        {"to": ""},
        {"page_size": 201},
        {"colour": "red"},
    ],
)
def test_bad_filters_are_400_problems(alice_api, application, traffic, query) -> None:
    assert_problem(alice_api.get(_url(application, **query)), 400)


@pytest.mark.smoke
@time_machine.travel(NOW, tick=False)
def test_a_request_is_found_by_its_id(alice_api, bob_api, application, traffic) -> None:
    url = f"/api/v1/applications/{application.pk}/requests/limited-1/"
    for client in (alice_api, bob_api):
        response = client.get(url)
        assert response.status_code == 200, response.content
        assert (response.json()["status"], response.json()["denial_cause"]) == (429, "rate-limited")
    assert_problem(alice_api.get(f"/api/v1/applications/{application.pk}/requests/nope/"), 404)


@time_machine.travel(NOW, tick=False)
def test_outsiders_get_404_for_the_log_and_its_requests(charlie_api, application, traffic) -> None:
    assert_problem(charlie_api.get(_url(application)), 404)
    assert_problem(charlie_api.get(f"/api/v1/applications/{application.pk}/requests/limited-1/"), 404)


@time_machine.travel(NOW, tick=False)
def test_another_applications_events_never_show(alice_api, application, traffic, gateway, ids) -> None:
    """Events are scoped by the application, not only by what the caller may see."""
    other = Application.objects.create(organisation=application.organisation, name="Other app")
    foreign = ids | {"app": other.pk, "sub": None, "key": ""}
    batch_ingest(gateway_id=gateway.pk, batch=batch(2, [record(foreign, t=NOW.timestamp() - 5, id="other-1")]), now=NOW)
    assert "other-1" not in _ids(alice_api.get(_url(application)).json())
    assert_problem(alice_api.get(f"/api/v1/applications/{application.pk}/requests/other-1/"), 404)
    assert _ids(alice_api.get(_url(other)).json()) == ["other-1"]
