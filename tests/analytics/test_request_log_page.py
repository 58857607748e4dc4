"""The portal's request-log page and its CSV export: scoped, filtered by GET, keyset pages, spreadsheet-safe."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from analytics.services.ingest import batch_ingest
from foundation.models import AuditEvent
from tests.portal.pages_helpers import text
from tests.support.access_log import batch, record

NOW = datetime(2026, 11, 23, 12, 30, 15, tzinfo=UTC)
HOSTILE_PATH = "=cmd|' /C calc'!A0"


@pytest.fixture
def traffic(gateway: Any, ids: dict[str, Any]) -> None:
    """60 admitted GETs a second apart, then a rate-limited 429 and a request with formula-like, hostile values."""
    start = NOW.replace(minute=0, second=0).timestamp()
    records = [record(ids, t=start + n, id=f"ok-{n}", p=f"/weather/items/{n}") for n in range(60)]
    records.append(record(ids, t=start + 60, id="limited-1", s=429, lim="rate", dc="rate-limited"))
    records.append(
        record(
            ids,
            t=start + 61,
            id="@SUM(1+1)",
            m="POST",
            p=HOSTILE_PATH + "\x1b[31m\r\n=2+5",
            s=403,
            lim="",
            dc="forbidden-ip",
        )  # fmt: skip
    )
    batch_ingest(gateway_id=gateway.pk, batch=batch(1, records), now=NOW)


def _url(application: Any) -> str:
    return reverse("analytics:application_requests", args=[application.pk])


def _csv(application: Any) -> str:
    return reverse("analytics:application_requests_csv", args=[application.pk])


@time_machine.travel(NOW, tick=False)
def test_the_page_lists_newest_first_states_retention_and_pages_older(alice_client: Client, application, traffic):
    response = alice_client.get(_url(application))

    assert response.status_code == 200
    page = text(response)
    rows = response.context["page"].events
    assert [e.request_id for e in rows[:3]] == ["@SUM(1+1)", "limited-1", "ok-59"]
    assert len(rows) == 50
    assert "kept for 30 days" in page
    assert "rate-limited" in page and "forbidden-ip" in page
    older = alice_client.get(_url(application), {"cursor": response.context["page"].next_cursor})
    assert [e.request_id for e in older.context["page"].events] == [f"ok-{n}" for n in range(11, -1, -1)]
    assert older.context["page"].next_cursor is None


@time_machine.travel(NOW, tick=False)
def test_filters_come_from_the_query_and_a_request_id_finds_its_request(alice_client, application, traffic):
    response = alice_client.get(_url(application), {"status_class": "4", "denial_cause": "rate-limited"})
    assert [e.request_id for e in response.context["page"].events] == ["limited-1"]

    found = alice_client.get(_url(application), {"request_id": "limited-1"})
    assert found.context["found"].status == 429
    missing = alice_client.get(_url(application), {"request_id": "nope"})
    assert missing.context["found"] is None and "No request with this id" in text(missing)


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "99"}, "status"),
        ({"path_prefix": "weather"}, "path_prefix"),
        ({"client_ip": "300.1.1.1"}, "client_ip"),
        ({"denial_cause": "because"}, "denial_cause"),
        ({"key": "999999"}, "key"),
        ({"start": "2026-11-23T12:00", "end": "2026-11-23T11:00"}, "start"),
    ],
)
def test_invalid_filters_re_render_with_messages(alice_client, application, traffic, query, field) -> None:
    response = alice_client.get(_url(application), query)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert response.context["page"] is None
    assert 'class="error-text"' in text(response)


@time_machine.travel(NOW, tick=False)
def test_a_forged_cursor_shows_the_newest_page_with_a_notice(alice_client, application, traffic) -> None:
    response = alice_client.get(_url(application), {"cursor": "forged:cursor"})
    assert response.status_code == 200
    assert "not valid any more" in text(response)
    assert response.context["page"].events[0].request_id == "@SUM(1+1)"


@time_machine.travel(NOW, tick=False)
def test_members_see_the_page_outsiders_get_404(bob_client, charlie_client, application, traffic) -> None:
    assert bob_client.get(_url(application)).status_code == 200
    assert charlie_client.get(_url(application)).status_code == 404
    assert charlie_client.get(_csv(application)).status_code == 404
    assert Client().get(_url(application)).status_code == 302


@pytest.mark.smoke
@time_machine.travel(NOW, tick=False)
def test_the_csv_export_streams_the_filter_and_is_safe_in_a_spreadsheet(alice_client, application, traffic) -> None:
    response = alice_client.get(_csv(application), {"status_class": "4", "cursor": "ignored"})

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="requests-alices-app-20261123.csv"'
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][:4] == ["time", "request_id", "method", "path"]
    assert [r[1] for r in rows[1:]] == ["'@SUM(1+1)", "limited-1"]
    hostile = rows[1]
    assert hostile[3] == "'" + HOSTILE_PATH + "[31m=2+5"  # control characters gone, formula defused
    assert hostile[8] == "forbidden-ip"
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
            assert cell.isprintable(), cell
    assert len(body.splitlines()) == 3  # header and two rows: no line break survived inside a cell
    exported = AuditEvent.objects.get(action="requests.exported")
    assert (exported.actor_label, exported.target_id) == ("alice@example.com", str(application.pk))
    assert exported.data == {"filters": {"status_class": "4"}}


@time_machine.travel(NOW, tick=False)
def test_the_csv_export_follows_the_keyset_across_pages(alice_client, application, traffic, monkeypatch) -> None:
    monkeypatch.setattr("analytics.views.CSV_EXPORT_PAGE", 7)
    response = alice_client.get(_csv(application))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 1 + 62
    assert len({r[1] for r in rows[1:]}) == 62


@time_machine.travel(NOW, tick=False)
def test_the_application_and_usage_pages_link_to_the_log(alice_client, application) -> None:
    for name in ("portal:application_detail", "analytics:application_usage"):
        assert _url(application) in text(alice_client.get(reverse(name, args=[application.pk])))
