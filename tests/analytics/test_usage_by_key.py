"""Usage by key on the usage page: a table of each key's requests, errors, denials and last use, and the chart and
totals narrowed to one key by `?key=`, which only takes the application's own keys."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from analytics.services.ingest import batch_ingest
from keys.services import key_issue
from tests.factories import ApplicationFactory
from tests.portal.pages_helpers import text
from tests.support.access_log import batch, record

NOW = datetime(2026, 11, 23, 12, 30, 15, tzinfo=UTC)


@pytest.fixture
def two_keys(gateway: Any, ids: dict[str, Any], api_key: tuple[Any, str], application: Any, alice: Any) -> Any:
    """Alice's server key makes three requests (one 500, one 429); a second "Mobile" key makes two 200s."""
    mobile, _ = key_issue(actor=alice, application=application, name="Mobile")
    at = NOW.replace(minute=5).timestamp()
    records = [
        record(ids, t=at, s=500),
        record(ids, t=at),
        record(ids, t=at, s=429, lim="rate"),
        record({**ids, "key": mobile.prefix}, t=at),
        record({**ids, "key": mobile.prefix}, t=at),
    ]
    batch_ingest(gateway_id=gateway.pk, batch=batch(1, records), now=NOW)
    return mobile


def _url(application: Any) -> str:
    return reverse("analytics:application_usage", args=[application.pk])


def _row(page: str, key_id: int) -> list[str]:
    match = re.search(rf'<tr id="key-usage-{key_id}".*?</tr>', page, re.S)
    assert match, key_id
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", match.group(0), re.S)]


@time_machine.travel(NOW, tick=False)
def test_the_usage_page_lists_each_keys_requests_errors_and_denials(
    alice_client: Client, application: Any, api_key: tuple[Any, str], two_keys: Any
) -> None:
    page = text(alice_client.get(_url(application)))

    server = _row(page, api_key[0].pk)
    mobile = _row(page, two_keys.pk)
    assert server[1:4] == ["3", "1", "1"] and server[0].startswith("Server key")
    assert mobile[1:4] == ["2", "0", "0"] and mobile[0].startswith("Mobile")
    # Busiest first.
    assert page.index(f'id="key-usage-{api_key[0].pk}"') < page.index(f'id="key-usage-{two_keys.pk}"')


@time_machine.travel(NOW, tick=False)
def test_picking_a_key_narrows_the_totals_and_the_chart_to_it(
    alice_client: Client, application: Any, two_keys: Any
) -> None:
    response = alice_client.get(_url(application), {"key": two_keys.pk, "period": "hour"})

    page = text(response)
    assert response.context["chart"].total == 2
    assert re.search(r'id="total-requests">2<', page)
    assert 'id="key-filter"' in page and "Mobile" in page
    # The period links keep the key; the table still lists every key.
    assert f"?period=day&amp;key={two_keys.pk}" in page
    assert len(response.context["by_key"]) == 2


@time_machine.travel(NOW, tick=False)
def test_another_organisations_key_is_refused_and_all_keys_are_shown(
    alice_client: Client, charlie_client: Client, application: Any, two_keys: Any, charlie_org: Any, charlie: Any
) -> None:
    other = ApplicationFactory(organisation=charlie_org, name="Charlie's app", created_by=charlie)
    foreign, _ = key_issue(actor=charlie, application=other, name="Foreign")
    response = alice_client.get(_url(application), {"key": foreign.pk, "period": "bogus"})

    page = text(response)
    assert response.status_code == 200
    assert 'id="key-error"' in page and 'id="period-error"' in page
    assert response.context["chart"].total == 5 and response.context["key"] is None
    assert charlie_client.get(_url(application), {"key": two_keys.pk}).status_code == 404


@time_machine.travel(NOW, tick=False)
def test_a_bad_key_keeps_a_good_period(alice_client: Client, application: Any, two_keys: Any) -> None:
    response = alice_client.get(_url(application), {"key": "x", "period": "month"})

    assert response.context["period"] == "month" and response.context["key"] is None
