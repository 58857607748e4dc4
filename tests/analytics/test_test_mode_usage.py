"""Test keys' usage (issue #15): collected and shown, apart from live usage, and never counted against a quota."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine

from analytics.models import QuotaUsage, UsageRollup
from analytics.selectors.environments import usage_by_environment
from analytics.services.ingest import batch_ingest
from keys.models import ApiKey
from keys.services import key_issue
from keys.services.clients import oauth_client_issue
from keys.services.signing import verify
from portal.models import Subscription
from portal.services.applications import subscription_create
from tests.factories import ApiFactory, PlanFactory
from tests.support.access_log import batch, record
from tests.support.oauth import token_for

NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def metered(application: Any, alice: Any) -> Subscription:
    """Alice's application on a plan with 3 requests a day."""
    plan = PlanFactory(api=ApiFactory(), quota_per_day=3, quota_per_month=None, rate_per_second=None)
    return subscription_create(actor=alice, application=application, plan=plan)


def _ingest(gateway: Any, sub: Subscription, prefix: str, count: int, sequence: int) -> None:
    ids = {"api": sub.api_id, "app": sub.application_id, "org": sub.application.organisation_id, "sub": sub.pk,
           "plan": sub.plan_id, "key": prefix}  # fmt: skip
    batch_ingest(gateway_id=gateway.pk, batch=batch(sequence, [record(ids) for _ in range(count)]))


@time_machine.travel(NOON, tick=False)
def test_test_traffic_never_uses_the_live_quota_and_is_shown_apart(gateway, metered, application, alice) -> None:
    live, _ = key_issue(actor=alice, application=application, name="live")
    test, _ = key_issue(actor=alice, application=application, name="sandbox", environment=ApiKey.Environment.TEST)

    _ingest(gateway, metered, test.prefix, 10, 1)  # far over the live quota, in test mode

    metered.refresh_from_db()
    assert metered.blocked_until is None
    assert not QuotaUsage.objects.filter(subscription=metered).exists()
    assert UsageRollup.objects.filter(key_id=test.pk).exists()  # collected all the same

    _ingest(gateway, metered, live.prefix, 3, 2)

    metered.refresh_from_db()
    assert metered.blocked_reason == "quota-day"
    assert QuotaUsage.objects.get(subscription=metered, period="d").used == 3
    split = usage_by_environment(application=application, granularity="minute", start=NOON.replace(hour=0),
                                 end=NOON.replace(hour=13))  # fmt: skip
    assert (split.live.requests, split.test.requests, split.test_key_ids) == (3, 10, frozenset({test.pk}))


@time_machine.travel(NOON.replace(minute=30), tick=False)
def test_the_usage_api_and_page_show_test_traffic_apart(gateway, metered, application, alice, alice_api, client):
    live, _ = key_issue(actor=alice, application=application, name="live")
    test, _ = key_issue(actor=alice, application=application, name="sandbox", environment=ApiKey.Environment.TEST)
    _ingest(gateway, metered, test.prefix, 4, 1)
    _ingest(gateway, metered, live.prefix, 2, 2)

    body = alice_api.get(f"/api/v1/applications/{application.pk}/usage/?granularity=hour").json()
    assert body["by_environment"] == {
        "live": {"requests": 2, "errors": 0, "denied": 0},
        "test": {"requests": 4, "errors": 0, "denied": 0},
    }
    assert body["totals"]["requests"] == 6

    client.force_login(alice)
    page = client.get(f"/applications/{application.pk}/usage/?period=day").content.decode()
    assert "test keys: <strong>4</strong> requests" in page


def test_a_test_oauth_clients_traffic_never_uses_the_live_quota(gateway, metered, application, alice, signing_key):
    client, secret = oauth_client_issue(
        actor=alice, application=application, name="ci", environment=ApiKey.Environment.TEST
    )
    assert client.client_id.startswith("ptc_client_test_")
    claims = verify(token_for((client, secret)))
    assert claims["environment"] == "test"

    _ingest(gateway, metered, client.client_id[:20], 5, 1)  # the gateway logs a client's first 20 characters

    metered.refresh_from_db()
    assert metered.blocked_until is None
    assert not QuotaUsage.objects.filter(subscription=metered).exists()


def test_a_live_oauth_clients_tokens_carry_no_environment(metered, application, alice, signing_key):
    client, secret = oauth_client_issue(actor=alice, application=application, name="server")
    assert not client.client_id.startswith("ptc_client_test_")
    assert "environment" not in verify(token_for((client, secret)))


def test_the_api_creates_a_test_oauth_client_and_refuses_another_environment(alice_api, application):
    url = f"/api/v1/applications/{application.pk}/clients/"
    created = alice_api.post(url, {"name": "ci", "environment": "test"}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["client"]["environment"] == "test"
    assert created.json()["client"]["client_id"].startswith("ptc_client_test_")
    refused = alice_api.post(url, {"name": "ci2", "environment": "staging"}, format="json")
    assert refused.status_code == 400
