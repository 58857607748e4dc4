import pytest
from django.core import mail

from foundation.errors import Conflict, ValidationFailed
from portal.models import Subscription
from portal.services.applications import (
    subscription_approve,
    subscription_cancel,
    subscription_change_plan,
    subscription_create,
)
from tests.factories import PlanFactory


def test_free_plan_subscription_is_active_at_once(subscription) -> None:
    assert subscription.status == Subscription.Status.ACTIVE and subscription.activated_at is not None


def test_plan_needing_approval_is_pending_until_staff_approve(
    application, pro_plan, alice, django_capture_on_commit_callbacks
) -> None:
    subscription = subscription_create(actor=alice, application=application, plan=pro_plan)
    assert subscription.status == Subscription.Status.PENDING
    with django_capture_on_commit_callbacks(execute=True):
        subscription_approve(actor=None, subscription=subscription)
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    assert mail.outbox and alice.email in mail.outbox[0].to


def test_second_subscription_to_the_same_api_is_a_conflict(subscription, pro_plan, alice) -> None:
    with pytest.raises(Conflict):
        subscription_create(actor=alice, application=subscription.application, plan=pro_plan)


def test_upgrade_to_an_approval_plan_goes_pending_and_lifts_quota_blocks(subscription, pro_plan, alice) -> None:
    from django.utils import timezone

    Subscription.objects.filter(pk=subscription.pk).update(blocked_until=timezone.now(), blocked_reason="quota_day")
    changed = subscription_change_plan(actor=alice, subscription=subscription, plan=pro_plan)
    assert changed.plan == pro_plan and changed.status == Subscription.Status.PENDING
    assert changed.blocked_until is None


def test_plan_of_another_api_is_refused(subscription, alice) -> None:
    with pytest.raises(ValidationFailed):
        subscription_change_plan(actor=alice, subscription=subscription, plan=PlanFactory())


def test_cancelled_subscription_allows_a_new_one(subscription, free_plan, alice) -> None:
    subscription_cancel(actor=alice, subscription=subscription)
    again = subscription_create(actor=alice, application=subscription.application, plan=free_plan)
    assert again.pk != subscription.pk and again.status == Subscription.Status.ACTIVE
