"""Quota enforcement from collected usage: blocks pushed to gateways, lifted at the boundary or on plan change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from analytics.models import QuotaUsage
from analytics.selectors import quota_states
from analytics.services.ingest import batch_ingest
from analytics.services.quota import quota_release
from gateway_sync.models import ConfigChange
from portal.models import Subscription
from portal.services.applications import subscription_change_plan, subscription_create
from tests.factories import ApiFactory, PlanFactory
from tests.support.access_log import batch, record

NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 11, 24, tzinfo=UTC)
NEXT_MONTH = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def metered(application: Any, alice: Any) -> Subscription:
    """Alice's application on a plan with 5 requests a day and 8 a month."""
    plan = PlanFactory(api=ApiFactory(), quota_per_day=5, quota_per_month=8, rate_per_second=None, rate_per_minute=None)
    return subscription_create(actor=alice, application=application, plan=plan)


@pytest.fixture
def metered_ids(metered: Subscription) -> dict[str, Any]:
    return {
        "api": metered.api_id,
        "app": metered.application_id,
        "org": metered.application.organisation_id,
        "sub": metered.pk,
        "plan": metered.plan_id,
    }


def _changes(sub: Subscription) -> list[dict[str, Any]]:
    return [
        c.data or {}
        for c in ConfigChange.objects.filter(kind=ConfigChange.Kind.SUBSCRIPTION, object_id=str(sub.pk)).order_by(
            "version"
        )
    ]


class _Ingest:
    def __init__(self, gateway: Any, ids: dict[str, Any]) -> None:
        self.gateway, self.ids, self.sequence = gateway, ids, 0

    def __call__(self, count: int, **fields: Any) -> None:
        self.sequence += 1
        records = [record(self.ids, **fields) for _ in range(count)]
        batch_ingest(gateway_id=self.gateway.pk, batch=batch(self.sequence, records))


@pytest.fixture
def ingest(gateway: Any, metered_ids: dict[str, Any]) -> _Ingest:
    return _Ingest(gateway, metered_ids)


@time_machine.travel(NOON, tick=False)
def test_using_up_the_daily_quota_blocks_the_subscription_until_midnight_at_every_gateway(metered, ingest) -> None:
    before = len(_changes(metered))
    ingest(4)
    metered.refresh_from_db()
    assert metered.blocked_until is None

    ingest(1)

    metered.refresh_from_db()
    assert (metered.blocked_until, metered.blocked_reason) == (MIDNIGHT, "quota-day")
    published = _changes(metered)[before:]
    assert len(published) == 1
    assert published[0]["blocked_until"] == int(MIDNIGHT.timestamp())
    assert published[0]["blocked_reason"] == "quota-day"


@time_machine.travel(NOON, tick=False)
def test_a_block_is_published_once_however_many_batches_follow(metered, ingest) -> None:
    ingest(5)
    published = len(_changes(metered))
    ingest(3, lim="blocked", s=429)
    ingest(2)  # admitted by a gateway that had not heard of the block yet
    assert len(_changes(metered)) == published


@time_machine.travel(NOON, tick=False)
def test_only_admitted_requests_use_quota(metered, ingest) -> None:
    ingest(10, lim="rate", s=429)
    ingest(10, lim="quota", s=429)
    ingest(10, app=None, sub=None, org=None, api=None, s=401, lim="")
    ingest(2)
    metered.refresh_from_db()
    assert metered.blocked_until is None
    assert QuotaUsage.objects.get(subscription=metered, period="d").used == 2


@time_machine.travel(NOON, tick=False)
def test_using_up_the_monthly_quota_blocks_until_the_first_of_next_month(metered, ingest) -> None:
    with time_machine.travel(NOON - timedelta(days=1), tick=False):
        ingest(4)  # yesterday: counts for the month only
    ingest(4)
    metered.refresh_from_db()
    assert (metered.blocked_until, metered.blocked_reason) == (NEXT_MONTH, "quota-month")


@time_machine.travel(NOON, tick=False)
def test_the_daily_block_is_lifted_at_midnight(metered, ingest) -> None:
    ingest(5)
    assert quota_release(now=NOON + timedelta(hours=1)) == []

    with time_machine.travel(MIDNIGHT + timedelta(seconds=1), tick=False):
        lifted = quota_release(now=MIDNIGHT + timedelta(seconds=1))

    assert lifted == [metered.pk]
    metered.refresh_from_db()
    assert (metered.blocked_until, metered.blocked_reason) == (None, "")
    assert _changes(metered)[-1]["blocked_until"] is None


@time_machine.travel(NOON, tick=False)
def test_a_plan_change_lifts_the_block_and_the_new_plan_is_checked_at_the_next_batch(
    metered, ingest, alice, application
) -> None:
    ingest(5)
    bigger = PlanFactory(api=metered.api, quota_per_day=7, quota_per_month=100, rate_per_second=None)

    subscription_change_plan(actor=alice, subscription=metered, plan=bigger)
    metered.refresh_from_db()
    assert metered.blocked_until is None

    ingest(1)  # 6 of 7
    metered.refresh_from_db()
    assert metered.blocked_until is None
    ingest(1, plan=bigger.pk)  # 7 of 7
    metered.refresh_from_db()
    assert (metered.blocked_until, metered.blocked_reason) == (MIDNIGHT, "quota-day")


@time_machine.travel(NOON, tick=False)
def test_raising_the_plan_quota_lifts_the_block_at_the_next_release_run(metered, ingest) -> None:
    ingest(5)
    type(metered.plan).objects.filter(pk=metered.plan_id).update(quota_per_day=50, quota_per_month=500)
    assert quota_release(now=NOON) == [metered.pk]


@time_machine.travel(NOON, tick=False)
def test_blocks_set_by_staff_for_other_reasons_are_left_alone(metered) -> None:
    Subscription.objects.filter(pk=metered.pk).update(blocked_until=NOON - timedelta(hours=1), blocked_reason="abuse")
    assert quota_release(now=NOON) == []


@time_machine.travel(NOON, tick=False)
def test_quota_state_shows_use_against_the_limits(metered, ingest, application) -> None:
    ingest(3)
    state = next(s for s in quota_states(application=application) if s.subscription.pk == metered.pk)
    assert (state.day_used, state.day_limit, state.month_used, state.month_limit) == (3, 5, 3, 8)
    assert (state.day_resets_at, state.month_resets_at) == (MIDNIGHT, NEXT_MONTH)
    assert state.day_percent() == 60
