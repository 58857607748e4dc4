"""Quotas the organisation shares (issue #15): the platform sums the organisation's subscriptions on the plan,
blocks and releases them together, and the meter shows the shared counter and who used it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail

from analytics.selectors import quota_states
from analytics.services.ingest import batch_ingest
from analytics.services.quota import quota_release
from gateway_sync.models import ConfigChange
from notifications.services import notifications_send_due, quota_thresholds_evaluate
from portal.models import Plan, Subscription
from portal.services.applications import subscription_create
from tests.factories import ApiFactory, ApplicationFactory, PlanFactory
from tests.support.access_log import batch, record

NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 11, 24, tzinfo=UTC)


@pytest.fixture
def shared_plan(db: Any) -> Plan:
    return PlanFactory(api=ApiFactory(), quota_per_day=5, quota_per_month=100, rate_per_second=None,
                       rate_per_minute=None, quota_scope=Plan.QuotaScope.ORGANISATION)  # fmt: skip


@pytest.fixture
def subs(application, org, alice, charlie_application, charlie, shared_plan) -> dict[str, Subscription]:
    """Alice's two applications (one organisation) and charlie's, all on the shared plan."""
    second = ApplicationFactory(organisation=org, name="Batch jobs", created_by=alice)
    return {
        "a": subscription_create(actor=alice, application=application, plan=shared_plan),
        "b": subscription_create(actor=alice, application=second, plan=shared_plan),
        "c": subscription_create(actor=charlie, application=charlie_application, plan=shared_plan),
    }


class _Ingest:
    """Feeds the ingest one batch per call, as one gateway's log would."""

    def __init__(self, gateway: Any) -> None:
        self.gateway, self.sequence = gateway, 0

    def __call__(self, sub: Subscription, count: int) -> None:
        self.sequence += 1
        ids = {"api": sub.api_id, "app": sub.application_id, "org": sub.application.organisation_id,
               "sub": sub.pk, "plan": sub.plan_id}  # fmt: skip
        batch_ingest(gateway_id=self.gateway.pk, batch=batch(self.sequence, [record(ids) for _ in range(count)]))


@pytest.fixture
def ingest(gateway: Any) -> _Ingest:
    return _Ingest(gateway)


def _block(sub: Subscription) -> tuple[datetime | None, str]:
    sub.refresh_from_db()
    return sub.blocked_until, sub.blocked_reason


def _published(sub: Subscription) -> list[dict[str, Any]]:
    rows = ConfigChange.objects.filter(kind=ConfigChange.Kind.SUBSCRIPTION, object_id=str(sub.pk)).order_by("version")
    return [c.data or {} for c in rows]


@time_machine.travel(NOON, tick=False)
def test_the_organisations_applications_use_up_one_quota_and_are_blocked_together(subs, ingest) -> None:
    ingest(subs["a"], 3)
    ingest(subs["c"], 4)  # another organisation: its own counter
    assert _block(subs["a"]) == _block(subs["b"]) == (None, "")

    ingest(subs["b"], 2)  # 3 + 2 = the organisation's 5

    assert _block(subs["a"]) == _block(subs["b"]) == (MIDNIGHT, "quota-day")
    assert _published(subs["a"])[-1]["blocked_until"] == _published(subs["b"])[-1]["blocked_until"]
    assert _block(subs["c"]) == (None, "")


@time_machine.travel(NOON, tick=False)
def test_an_application_subscribing_after_the_block_is_blocked_at_its_first_counted_requests(
    subs, ingest, org, alice, shared_plan
) -> None:
    ingest(subs["a"], 5)
    late = subscription_create(actor=alice, application=ApplicationFactory(organisation=org), plan=shared_plan)
    assert _block(late) == (None, "")

    ingest(late, 1)  # admitted by a gateway that had not heard of the block yet

    assert _block(late) == (MIDNIGHT, "quota-day")


@time_machine.travel(NOON, tick=False)
def test_shared_blocks_are_lifted_together_at_midnight_and_when_the_quota_is_raised(subs, ingest, shared_plan) -> None:
    ingest(subs["a"], 5)
    assert quota_release(now=NOON + timedelta(minutes=1)) == []

    Plan.objects.filter(pk=shared_plan.pk).update(quota_per_day=50)
    assert sorted(quota_release(now=NOON + timedelta(minutes=1))) == sorted([subs["a"].pk, subs["b"].pk])

    Plan.objects.filter(pk=shared_plan.pk).update(quota_per_day=5)
    ingest(subs["b"], 1)
    assert _block(subs["a"]) == _block(subs["b"]) == (MIDNIGHT, "quota-day")
    with time_machine.travel(MIDNIGHT + timedelta(seconds=1), tick=False):
        lifted = quota_release(now=MIDNIGHT + timedelta(seconds=1))
    assert sorted(lifted) == sorted([subs["a"].pk, subs["b"].pk])


@time_machine.travel(NOON, tick=False)
def test_an_application_scoped_plan_still_counts_each_subscription(subs, ingest, shared_plan) -> None:
    Plan.objects.filter(pk=shared_plan.pk).update(quota_scope=Plan.QuotaScope.APPLICATION)
    ingest(subs["a"], 3)
    ingest(subs["b"], 3)
    assert _block(subs["a"]) == _block(subs["b"]) == (None, "")


@time_machine.travel(NOON, tick=False)
def test_the_meter_shows_the_shared_counter_and_who_used_it(
    subs, ingest, application, charlie_application, django_assert_num_queries
) -> None:
    ingest(subs["a"], 1)
    ingest(subs["b"], 3)
    ingest(subs["c"], 2)

    with django_assert_num_queries(3):
        (state,) = quota_states(application=application)

    assert (state.day_used, state.day_limit, state.month_used) == (4, 5, 4)
    assert [(s.name, s.day_used, s.month_used) for s in state.shares] == [("Batch jobs", 3, 3), ("Alice's app", 1, 1)]
    (theirs,) = quota_states(application=charlie_application)
    assert (theirs.day_used, [s.application_id for s in theirs.shares]) == (2, [charlie_application.pk])


@time_machine.travel(NOON, tick=False)
def test_the_usage_page_and_api_show_the_breakdown_to_members_only(
    subs, ingest, application, alice_client, bob_client, charlie_client
) -> None:
    ingest(subs["b"], 3)
    ingest(subs["c"], 2)

    page = bob_client.get(f"/applications/{application.pk}/usage/").content.decode()
    api = alice_client.get(f"/api/v1/applications/{application.pk}/usage/").json()

    assert "Quota shared by all your organisation's applications" in page
    assert f'id="quota-share-{subs["a"].pk}-{subs["b"].application_id}"' in page
    assert "Charlie" not in page
    (quota,) = api["quotas"]
    assert quota["shared"] is True and quota["day"]["used"] == 3
    assert quota["shares"] == [{"application": subs["b"].application_id, "name": "Batch jobs", "day_used": 3,
                                "month_used": 3}]  # fmt: skip
    assert charlie_client.get(f"/api/v1/applications/{application.pk}/usage/").status_code == 404


@time_machine.travel(NOON, tick=False)
def test_an_unshared_quota_has_no_breakdown(subscription, application, alice_client) -> None:
    api = alice_client.get(f"/api/v1/applications/{application.pk}/usage/").json()
    assert [(q["shared"], q["shares"]) for q in api["quotas"]] == [(False, None)]


@time_machine.travel(NOON, tick=False)
def test_a_shared_quota_is_emailed_once_per_organisation_on_the_shared_counter(subs, ingest, alice, org) -> None:
    ingest(subs["a"], 2)
    ingest(subs["b"], 2)  # 4 of the organisation's 5: 80%, though neither application used more than 40%
    ingest(subs["c"], 3)  # charlie's organisation: 60%, nothing to say

    assert quota_thresholds_evaluate(now=NOON) == 1  # alice, the owner; one email for both applications
    assert quota_thresholds_evaluate(now=NOON) == 0
    notifications_send_due()

    (email,) = [m for m in mail.outbox if "quota" in m.subject]
    assert email.to == [alice.email]
    assert email.subject.endswith("Your organisation's applications used 80% of their shared daily quota for "
                                  f"{subs['a'].api.name}")  # fmt: skip
    assert "4 of 5 requests" in email.body and f"/orgs/{org.pk}/usage/" in email.body
