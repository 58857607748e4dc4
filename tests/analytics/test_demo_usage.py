"""`seed_demo --usage`: weeks of demo traffic that fill every chart and table at once, and no double count on re-run."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Sum
from django.test import Client
from django.urls import reverse

from analytics.models import RequestEvent, UsageRollup
from portal.models import Application
from tests.portal.pages_helpers import text

NOW = datetime(2026, 11, 23, 12, 30, 15, tzinfo=UTC)


def _seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", "--usage", "--admin-password", "demo-admin-pw", stdout=out)
    return out.getvalue()


def _totals() -> dict[str, Any]:
    totals = {
        granularity: UsageRollup.objects.filter(granularity=granularity).aggregate(
            requests=Sum("requests"), errors=Sum("errors"), denied=Sum("denied")
        )
        for granularity in UsageRollup.Granularity.values
    }
    totals["events"] = RequestEvent.objects.count()
    return totals


def _developer_client() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.get(email="dev@portico.localhost"))
    return client


@pytest.mark.django_db(transaction=True)
@time_machine.travel(NOW, tick=False)
def test_seeded_usage_fills_the_usage_page_and_a_rerun_changes_no_total() -> None:
    output = _seed()
    first = _totals()
    _seed()

    assert "Demo usage ready" in output
    assert _totals() == first
    hours, days = first["hour"], first["day"]
    # Every granularity agrees, as real ingest's do; some errors and denials, and the request log has the last day.
    assert hours == days and hours["requests"] > 10_000 and hours["errors"] > 0 and hours["denied"] > 0
    assert 0 < first["events"] < hours["requests"] / 10
    application = Application.objects.get(name="Demo app")
    page = _developer_client().get(reverse("analytics:application_usage", args=[application.pk]), {"period": "month"})
    chart = page.context["chart"]
    assert chart.total > 10_000 and all(bar.total for bar in chart.bars[2:])
    assert len(page.context["by_key"]) >= 3 and sum(k.errors for k in page.context["by_key"]) > 0
    assert re.search(r'id="total-requests">[1-9]', text(page))
    for period in ("hour", "day"):
        assert _developer_client().get(page.request["PATH_INFO"], {"period": period}).context["chart"].total > 0
    # Usage by endpoint: the demo API's operations, matched as ingest matches them, and "other" last.
    operations = [o.operation for o in page.context["by_operation"]]
    assert {"GET /anything/orders/{order_id}", "POST /anything/orders", "GET /anything/customers/{customer_id}"} <= set(
        operations
    )
    assert len(operations) >= 6 and operations[-1] == "other"
    outcomes = page.context["outcome_chart"].totals
    assert all(outcomes[key] > 0 for key in ("ok", "client", "auth", "throttled", "server"))
    assert RequestEvent.objects.filter(path__startswith="/echo/anything/orders/").exists()


@pytest.mark.django_db(transaction=True)
@time_machine.travel(NOW, tick=False)
def test_the_live_demo_keys_traffic_survives_a_reseed(gateway: Any) -> None:
    _seed()
    application = Application.objects.get(name="Demo app")
    live = application.keys.get(name="Demo key", status="active")
    UsageRollup.objects.create(
        granularity="day", bucket=NOW.replace(hour=0, minute=0, second=0), organisation_id=application.organisation_id,
        application_id=application.pk, key_id=live.pk, api_id=1, status_class=2, requests=7,
    )  # fmt: skip

    _seed()

    assert UsageRollup.objects.filter(key_id=live.pk).aggregate(n=Sum("requests"))["n"] == 7
