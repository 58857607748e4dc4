"""The staff usage overview in the admin: top consumers, traffic per API, plan and gateway, quota pressure, by range."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.db.models import Sum
from django.test import Client
from django.test.utils import CaptureQueriesContext

from analytics.models import LATENCY_FIELDS, QuotaUsage, UsageRollup
from analytics.selectors import staff
from analytics.services.ingest import batch_ingest
from keys.services import key_issue
from portal.services.applications import subscription_create
from tests.factories import ApplicationFactory
from tests.support.access_log import batch, record

NOW = datetime(2026, 11, 23, 12, 30, 15, tzinfo=UTC)
URL = "/admin/analytics/usagerollup/overview/"


@pytest.fixture
def traffic(gateway: Any, ids: dict[str, Any], charlie: Any, charlie_org: Any, free_plan: Any) -> Any:
    """Alice's app: four requests, one 500, at 12:05 today; charlie's app: two requests, both 502, and one 429;
    alice's subscription has used 950 of its 1,000 a day."""
    other = ApplicationFactory(organisation=charlie_org, name="Charlie's app", created_by=charlie)
    sub = subscription_create(actor=charlie, application=other, plan=free_plan)
    key, _ = key_issue(actor=charlie, application=other, name="K")
    charlie_ids = ids | {"app": other.pk, "org": charlie_org.pk, "sub": sub.pk, "key": key.prefix}
    at = NOW.replace(minute=5).timestamp()
    records = [record(ids, t=at, rt=0.020, s=500), *[record(ids, t=at, rt=0.020) for _ in range(3)]]
    records += [record(charlie_ids, t=at, s=502), record(charlie_ids, t=at, s=502)]
    records += [record(charlie_ids, t=at, s=429, lim="rate")]
    batch_ingest(gateway_id=gateway.pk, batch=batch(1, records), now=NOW)
    QuotaUsage.objects.filter(subscription_id=ids["sub"], period="d").update(used=950)
    return other


def _table(page: str, table_id: str) -> list[list[str]]:
    match = re.search(rf'<table id="{table_id}">.*?</table>', page, re.S)
    assert match, table_id
    rows = re.findall(r"<tr>(.*?)</tr>", match.group(0).split("<tbody>", 1)[1], re.S)
    cells = [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S) for row in rows]
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in row] for row in cells]


@time_machine.travel(NOW, tick=False)
def test_staff_see_top_consumers_traffic_per_api_plan_and_gateway_and_quota_pressure(
    staff_client: Client, traffic: Any, application: Any
) -> None:
    response = staff_client.get(URL, {"range": "24h"})

    page = response.content.decode()
    assert response.status_code == 200
    assert [row[:5] for row in _table(page, "top-requests")] == [
        ["Alice's app (Acme)", "4", "1", "25.00%", "0"],
        ["Charlie's app (Charlie Corp)", "3", "2", "66.67%", "1"],
    ]
    assert [row[0] for row in _table(page, "top-errors")] == ["Charlie's app (Charlie Corp)", "Alice's app (Acme)"]
    [api] = _table(page, "per-api")
    assert api[:5] == ["Weather", "7", "3", "42.86%", "1"] and api[5].endswith(" ms")
    [plan] = _table(page, "per-plan")
    assert plan[:2] == ["Weather · Free", "7"]
    [gateway] = _table(page, "per-gateway")
    assert gateway[:4] == ["edge-1", "7", "3", "42.86%"]
    [quota] = _table(page, "quota-pressure")
    assert quota[0] == "Alice's app (Acme)" and quota[2:6] == ["Today", "950 (95%)", "1,000", "near"]


@time_machine.travel(NOW, tick=False)
def test_each_range_reads_its_window_and_a_bad_range_falls_back_with_a_notice(
    staff_client: Client, traffic: Any
) -> None:
    month = staff_client.get(URL, {"range": "30d"})
    assert (month.context["start"], month.context["end"]) == (
        datetime(2026, 10, 25, tzinfo=UTC),
        datetime(2026, 11, 24, tzinfo=UTC),
    )
    assert _table(month.content.decode(), "per-api")[0][1] == "7"
    assert staff_client.get(URL, {"range": "24h"}).context["start"] == datetime(2026, 11, 22, 13, tzinfo=UTC)
    fallback = staff_client.get(URL, {"range": "1y"})
    assert fallback.context["range"] == "7d" and 'id="range-error"' in fallback.content.decode()


def test_the_overview_is_staff_only_and_linked_from_the_admin_index(staff_client: Client, alice_client: Client) -> None:
    assert alice_client.get(URL, follow=True).redirect_chain[-1][0] == "/"
    assert URL in staff_client.get("/admin/").content.decode()
    assert URL in staff_client.get("/admin/analytics/usagerollup/").content.decode()


@time_machine.travel(NOW, tick=False)
def test_a_week_reads_day_rollups_for_whole_days_and_sums_the_same(
    gateway: Any, ids: dict[str, Any], traffic: Any
) -> None:
    # More traffic four days ago, and at 13:10 seven days ago: in the partial first day of the week from 13:00.
    moments = (datetime(2026, 11, 19, 17, 40, tzinfo=UTC), datetime(2026, 11, 16, 13, 10, tzinfo=UTC))
    for sequence, moment in enumerate(moments, start=2):
        records = [record(ids, t=moment.timestamp(), rt=0.200, s=status) for status in (200, 200, 503)]
        batch_ingest(gateway_id=gateway.pk, batch=batch(sequence, records), now=moment)
    end = datetime(2026, 11, 23, 13, tzinfo=UTC)
    start = end - timedelta(days=7)
    hours = list(
        UsageRollup.objects.filter(granularity="hour", bucket__gte=start, bucket__lt=end)
        .values("application_id", "api_id")
        .annotate(**{name: Sum(name) for name in ("requests", "errors", "denied", *LATENCY_FIELDS)})
        .order_by("application_id", "api_id")
    )
    with CaptureQueriesContext(connection) as queries:
        groups = staff.rollup_groups(granularity="hour", start=start, end=end)

    assert groups == hours and sum(g["requests"] for g in groups) == 13
    assert len(queries) == 3 and "'day'" in queries[1]["sql"]  # the whole days between: day rollups
