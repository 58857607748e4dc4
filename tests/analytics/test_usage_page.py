"""The portal usage page: chart, totals, latency and quota meters of one application, scoped like its other pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from analytics.charts import nice_ceiling, requests_chart
from analytics.models import UsageRollup
from analytics.services.ingest import batch_ingest
from portal.models import Subscription
from tests.portal.pages_helpers import text
from tests.support.access_log import batch, record

NOW = datetime(2026, 11, 23, 12, 30, 15, tzinfo=UTC)


@pytest.fixture
def traffic(gateway: Any, ids: dict[str, Any]) -> None:
    """Two batches: five 200s at 12:10, then at 11:20 a 500, a 200 and a rate-limited 429, all at 10 ms."""
    at = NOW.replace(minute=10).timestamp()
    earlier = NOW.replace(hour=11, minute=20).timestamp()
    batch_ingest(
        gateway_id=gateway.pk, batch=batch(1, [record(ids, t=at, rt=0.010, bi=100, bo=1000) for _ in range(5)]), now=NOW
    )
    records = [
        record(ids, t=earlier, rt=0.010, s=500, bi=100, bo=1000),
        record(ids, t=earlier, rt=0.010, bi=100, bo=1000),
        record(ids, t=earlier, rt=0.010, s=429, lim="rate", bi=100, bo=1000),
    ]
    batch_ingest(gateway_id=gateway.pk, batch=batch(2, records), now=NOW)


def _url(application: Any) -> str:
    return reverse("analytics:application_usage", args=[application.pk])


def _number(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}">([^<]*)<', page)
    assert match, element_id
    return match.group(1).strip()


@time_machine.travel(NOW, tick=False)
def test_alice_sees_totals_latency_chart_and_quota_meters(
    alice_client: Client, application: Any, subscription: Any, traffic: None
) -> None:
    response = alice_client.get(_url(application))

    assert response.status_code == 200
    page = text(response)
    assert response.context["period"] == "day"
    assert (_number(page, "total-requests"), _number(page, "total-errors"), _number(page, "total-denied")) == (
        "8",
        "1",
        "1",
    )
    assert _number(page, "total-bytes") == "800\xa0bytes / 7.8\xa0KB"
    p50 = float(_number(page, "latency-p50").removesuffix(" ms"))
    assert p50 == pytest.approx(10, rel=0.35)
    # 24 hourly bars; the 11:00 bar stacks 2xx, 4xx and 5xx, the 12:00 one is all 2xx.
    chart = response.context["chart"]
    assert len(chart.bars) == 24 and chart.total == 8 and chart.peak == 5
    assert [(s.status_class, s.count) for s in chart.bars[-2].segments] == [(2, 1), (4, 1), (5, 1)]
    assert page.count('class="chart-s5"') == 1 and page.count('class="chart-s2"') == 2
    assert '<title id="chart-title">' in page and 'aria-labelledby="chart-title chart-desc"' in page
    assert "23 Nov 11:00 UTC: 3 requests (1 2xx, 1 4xx, 1 5xx)" in page
    # The free plan allows 1,000 a day: seven admitted requests (the 429 was not admitted).
    meter = re.search(rf'<meter id="meter-{subscription.pk}-1"[^>]*>', page)
    assert meter and 'max="1000"' in meter.group(0) and 'value="7"' in meter.group(0)
    assert "7 / 1,000 (0%)" in page


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    ("period", "granularity", "bars", "requests"),
    [("hour", "minute", 60, 5), ("day", "hour", 24, 8), ("month", "day", 30, 8)],
)
def test_each_period_has_its_granularity_and_bucket_count(
    alice_client: Client, application: Any, traffic: None, period: str, granularity: str, bars: int, requests: int
) -> None:
    response = alice_client.get(_url(application), {"period": period})

    assert response.status_code == 200
    assert response.context["granularity"] == granularity
    assert len(response.context["chart"].bars) == bars
    assert _number(text(response), "total-requests") == str(requests)
    assert 'aria-current="page"' in text(response)


@time_machine.travel(NOW, tick=False)
def test_bob_as_a_member_sees_the_page_and_charlie_gets_404(
    bob_client: Client, charlie_client: Client, charlie_org: Any, application: Any, traffic: None
) -> None:
    assert _number(text(bob_client.get(_url(application))), "total-requests") == "8"
    response = charlie_client.get(_url(application))
    assert response.status_code == 404
    assert "Alice" not in text(response)


def test_an_unknown_application_is_404_and_anonymous_users_are_sent_to_log_in(
    alice_client: Client, application: Any
) -> None:
    assert alice_client.get("/applications/999999999/usage/").status_code == 404
    assert alice_client.get("/applications/99999999999999999999999/usage/").status_code == 404
    response = Client().get(_url(application))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize(
    "query", ["?period=week", "?period=%00", "?period=day&period=<script>", "?period[]=x&from=yesterday", "?period="]
)
def test_bad_query_parameters_show_the_default_period_never_an_error(
    alice_client: Client, application: Any, query: str
) -> None:
    response = alice_client.get(_url(application) + query)

    assert response.status_code == 200
    assert response.context["period"] == "day"
    page = text(response)
    assert "<script>" not in page.split("</title>", 1)[1].split("<script", 1)[0]
    if query.startswith("?period=w") or query.startswith("?period=%00"):
        assert 'id="period-error"' in page


@time_machine.travel(NOW, tick=False)
def test_the_page_has_a_strict_csp_and_no_inline_style_or_script(
    alice_client: Client, application: Any, subscription: Any, traffic: None
) -> None:
    response = alice_client.get(_url(application))

    policy = response["Content-Security-Policy"]
    assert "style-src 'self'" in policy and "script-src 'self'" in policy and "unsafe-inline" not in policy
    page = text(response)
    assert " style=" not in page and "<style" not in page
    for chunk in page.split("<script")[1:]:
        head = chunk.split(">", 1)[0]
        assert "src=" in head or 'type="application/json"' in head, head
    assert re.search(r"\son[a-z]+=", page) is None  # no inline event handlers either


@time_machine.travel(NOW, tick=False)
def test_a_blocked_subscription_shows_until_when_and_why(
    alice_client: Client, application: Any, subscription: Any
) -> None:
    until = NOW + timedelta(hours=11, minutes=29, seconds=45)
    Subscription.objects.filter(pk=subscription.pk).update(blocked_until=until, blocked_reason="quota-day")

    page = text(alice_client.get(_url(application)))

    assert "Blocked until 00:00 UTC — daily quota used up" in page  # in words, not the code quota-day
    assert "No requests in this period yet." in page


def test_the_application_page_links_to_usage(alice_client: Client, application: Any) -> None:
    page = text(alice_client.get(reverse("portal:application_detail", args=[application.pk])))
    assert f'href="{_url(application)}"' in page


def test_chart_scale_is_a_round_number_and_empty_buckets_are_drawn_empty() -> None:
    assert [nice_ceiling(n) for n in (0, 3, 5, 9, 41, 399, 401, 1_999_999)] == [4, 4, 8, 20, 80, 400, 800, 2_000_000]
    start = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    chart = requests_chart(
        granularity=UsageRollup.Granularity.MINUTE,
        start=start,
        end=start + timedelta(minutes=3),
        step=timedelta(minutes=1),
        counts={start + timedelta(minutes=1): {2: 6, 5: 2}},
    )
    assert [bar.total for bar in chart.bars] == [0, 8, 0]
    assert chart.y_max == 8 and [t.text for t in chart.y_ticks] == ["0", "2", "4", "6", "8"]
    full = chart.bars[1]
    assert full.segments[0].y + full.segments[0].height == pytest.approx(chart.bottom)
    assert full.segments[-1].y == pytest.approx(chart.top)
