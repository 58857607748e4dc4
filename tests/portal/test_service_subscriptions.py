import pytest
from django.core import mail

from foundation.errors import Conflict, ValidationFailed
from foundation.models import AuditEvent
from notifications.services import notifications_send_due
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
    notifications_send_due()  # sent by a worker, never inside the request
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    assert mail.outbox and alice.email in mail.outbox[0].to


def test_second_subscription_to_the_same_api_is_a_conflict(subscription, pro_plan, alice) -> None:
    with pytest.raises(Conflict):
        subscription_create(actor=alice, application=subscription.application, plan=pro_plan)


def test_an_upgrade_needing_approval_keeps_the_current_plan_serving_until_staff_approve(
    subscription, free_plan, pro_plan, alice, django_capture_on_commit_callbacks
) -> None:
    from django.utils import timezone

    from gateway_sync.models import ConfigChange
    from portal.services.applications import subscription_reject

    before = ConfigChange.objects.count()
    requested = subscription_change_plan(actor=alice, subscription=subscription, plan=pro_plan)
    assert (requested.plan, requested.requested_plan, requested.status) == (free_plan, pro_plan, "active")
    assert ConfigChange.objects.count() == before  # the gateways keep enforcing the free plan

    with django_capture_on_commit_callbacks(execute=True):
        subscription_reject(actor=None, subscription=requested)
    notifications_send_due()
    requested.refresh_from_db()
    assert (requested.plan, requested.requested_plan, requested.status) == (free_plan, None, "active")
    assert "stays on the Free plan" in mail.outbox[-1].body

    subscription_change_plan(actor=alice, subscription=requested, plan=pro_plan)
    Subscription.objects.filter(pk=subscription.pk).update(blocked_until=timezone.now(), blocked_reason="quota-day")
    with django_capture_on_commit_callbacks(execute=True):
        approved = subscription_approve(actor=None, subscription=requested)
    assert (approved.plan, approved.requested_plan, approved.status) == (pro_plan, None, "active")
    assert approved.blocked_until is None  # new plan, new quotas
    assert ConfigChange.objects.filter(kind="subscription", object_id=str(subscription.pk)).count() >= 1
    actions = list(AuditEvent.objects.filter(target_id=str(subscription.pk)).values_list("action", flat=True))
    assert {"subscription.plan_change_requested", "subscription.plan_change_rejected"} <= set(actions)
    assert "subscription.plan_change_approved" in actions


def test_choosing_the_current_plan_again_withdraws_a_request(subscription, free_plan, pro_plan, alice) -> None:
    subscription_change_plan(actor=alice, subscription=subscription, plan=pro_plan)
    withdrawn = subscription_change_plan(actor=alice, subscription=subscription, plan=free_plan)
    assert withdrawn.requested_plan is None and withdrawn.plan == free_plan


def test_approval_emails_go_to_each_owner_and_admin_alone(
    application, pro_plan, alice, bob, org, django_capture_on_commit_callbacks
) -> None:
    from portal.models import Membership

    Membership.objects.filter(organisation=org, user=bob).update(role="admin")
    pending = subscription_create(actor=alice, application=application, plan=pro_plan)
    with django_capture_on_commit_callbacks(execute=True):
        subscription_approve(actor=None, subscription=pending)
    notifications_send_due()
    assert sorted(message.to for message in mail.outbox) == [["alice@example.com"], ["bob@example.com"]]


def test_plan_of_another_api_is_refused(subscription, alice) -> None:
    with pytest.raises(ValidationFailed):
        subscription_change_plan(actor=alice, subscription=subscription, plan=PlanFactory())


def test_cancelled_subscription_allows_a_new_one(subscription, free_plan, alice) -> None:
    subscription_cancel(actor=alice, subscription=subscription)
    again = subscription_create(actor=alice, application=subscription.application, plan=free_plan)
    assert again.pk != subscription.pk and again.status == Subscription.Status.ACTIVE
