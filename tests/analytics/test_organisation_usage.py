"""Organisation usage: every application's requests in one page and one REST answer, for members only."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from analytics.models import UsageRollup
from analytics.services.ingest import batch_ingest
from keys.services import key_issue
from portal.services.applications import subscription_create
from tests.api.conftest import assert_problem
from tests.factories import ApplicationFactory
from tests.portal.pages_helpers import text
from tests.support.access_log import batch, record

NOW = datetime(2026, 11, 23, 12, 30, 15, tzinfo=UTC)
DELETED_APPLICATION = 987_654


@pytest.fixture
def traffic(gateway: Any, ids: dict[str, Any], org: Any, alice: Any, free_plan: Any, charlie_org: Any) -> Any:
    """Alice's app: three requests (one 500); her "Mobile" app: two 200s and a 429; a deleted app of hers counted
    four; charlie's organisation 50 (never shown to alice)."""
    mobile = ApplicationFactory(organisation=org, name="Mobile", created_by=alice)
    sub = subscription_create(actor=alice, application=mobile, plan=free_plan)
    key, _ = key_issue(actor=alice, application=mobile, name="Phone")
    mobile_ids = ids | {"app": mobile.pk, "sub": sub.pk, "key": key.prefix}
    at = NOW.replace(minute=5).timestamp()
    records = [record(ids, t=at, s=500), record(ids, t=at), record(ids, t=at)]
    records += [record(mobile_ids, t=at), record(mobile_ids, t=at), record(mobile_ids, t=at, s=429, lim="rate")]
    batch_ingest(gateway_id=gateway.pk, batch=batch(1, records), now=NOW)
    for organisation_id, application_id, requests in ((org.pk, DELETED_APPLICATION, 4), (charlie_org.pk, 1, 50)):
        UsageRollup.objects.create(
            granularity="hour", bucket=NOW.replace(minute=0, second=0), organisation_id=organisation_id,
            application_id=application_id, status_class=2, requests=requests,
        )  # fmt: skip
    return mobile


def _page(org: Any) -> str:
    return reverse("analytics:organisation_usage", args=[org.pk])


def _api(org: Any) -> str:
    return f"/api/v1/organisations/{org.pk}/usage/"


def _row(page: str, application_id: int) -> list[str]:
    match = re.search(rf'<tr id="application-usage-{application_id}".*?</tr>', page, re.S)
    assert match, application_id
    return [
        html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
        for cell in re.findall(r"<td[^>]*>(.*?)</td>", match.group(0), re.S)
    ]


@time_machine.travel(NOW, tick=False)
def test_the_page_shows_every_application_and_the_organisations_totals(
    bob_client: Client, org: Any, application: Any, traffic: Any
) -> None:
    response = bob_client.get(_page(org))

    page = text(response)
    assert response.status_code == 200
    assert re.search(r'id="total-requests">10<', page) and re.search(r'id="total-denied">1<', page)
    assert response.context["chart"].total == 10
    assert _row(page, application.pk)[:5] == ["Alice's app", "3", "1", "33.33%", "0"]
    assert _row(page, traffic.pk)[:5] == ["Mobile", "3", "0", "0.00%", "1"]
    assert _row(page, DELETED_APPLICATION)[:2] == [f"Deleted application #{DELETED_APPLICATION}", "4"]
    assert "50" not in re.sub(r"<svg.*?</svg>", "", page, flags=re.S).split('id="usage-totals"', 1)[1]


@time_machine.travel(NOW, tick=False)
def test_outsiders_get_404_on_the_page_and_the_api(
    charlie_client: Client, charlie_api: Any, org: Any, traffic: Any
) -> None:
    assert charlie_client.get(_page(org)).status_code == 404
    assert_problem(charlie_api.get(_api(org)), 404)


@time_machine.travel(NOW, tick=False)
def test_the_api_answers_series_totals_and_one_row_per_application(
    bob_api: Any, org: Any, application: Any, traffic: Any
) -> None:
    response = bob_api.get(_api(org), {"granularity": "hour"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["organisation"] == org.pk and body["totals"]["requests"] == 10
    assert body["by_status_class"] == {"2xx": 8, "4xx": 1, "5xx": 1}
    rows = {
        row["application"]: (row["requests"], row["errors"], row["denied"], row["exists"])
        for row in body["applications"]
    }
    assert rows == {
        DELETED_APPLICATION: (4, 0, 0, False),
        application.pk: (3, 1, 0, True),
        traffic.pk: (3, 0, 1, True),
    }


@pytest.mark.parametrize(
    "query", [{"granularity": "week"}, {"key": "1"}, {"from": "2026-11-24T00:00:00Z", "to": "2026-11-23T00:00:00Z"}]
)
def test_the_api_refuses_bad_queries_with_a_problem(alice_api: Any, org: Any, query: dict[str, str]) -> None:
    assert_problem(alice_api.get(_api(org), query), 400)


@time_machine.travel(NOW, tick=False)
def test_the_api_costs_the_same_queries_however_many_applications(
    bob_api: Any, org: Any, alice: Any, traffic: Any, django_assert_max_num_queries: Any
) -> None:
    for n in range(5):
        ApplicationFactory(organisation=org, name=f"Quiet {n}", created_by=alice)
    with django_assert_max_num_queries(6):  # membership, then the five usage queries
        response = bob_api.get(_api(org), {"granularity": "hour"})
    assert len(response.json()["applications"]) == 8
