"""What decides an email: keys revoked or rotated by someone else, subscription decisions, keys close to expiry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import time_machine
from django.core import mail
from django.utils import timezone

from keys.services import key_issue, key_revoke, key_rotate
from notifications.models import Notification, OptOut
from notifications.services import key_expiry_evaluate, notifications_send_due
from portal.models import Membership
from portal.services.applications import subscription_create, subscription_reject


def _admin(org: Any, user: Any) -> None:
    Membership.objects.filter(organisation=org, user=user).update(role="admin")


def test_a_key_revoked_by_another_admin_is_emailed_to_the_other_owners_not_to_the_actor(
    org, alice, bob, api_key
) -> None:
    _admin(org, bob)
    key_revoke(actor=bob, key=api_key[0])
    key_revoke(actor=bob, key=api_key[0])  # idempotent: no second event, no second email
    notifications_send_due()
    assert [m.to for m in mail.outbox] == [[alice.email]]
    assert "revoked" in mail.outbox[0].subject and api_key[0].name in mail.outbox[0].body


def test_a_key_rotated_by_its_only_owner_emails_nobody(org, alice, api_key) -> None:
    key_rotate(actor=alice, key=api_key[0], grace=timedelta(hours=1))
    notifications_send_due()
    assert mail.outbox == []


def test_a_rejected_subscription_is_emailed_to_owners_who_did_not_opt_out(org, alice, bob, application, pro_plan):
    _admin(org, bob)
    OptOut.objects.create(user=bob, kind="subscription")
    pending = subscription_create(actor=alice, application=application, plan=pro_plan)
    subscription_reject(actor=None, subscription=pending)
    notifications_send_due()
    assert [m.to for m in mail.outbox] == [[alice.email]]
    assert "declined" in mail.outbox[0].subject


def test_a_key_expiring_is_warned_7_days_and_1_day_before_once_each(org, alice, application, subscription) -> None:
    now = timezone.now()
    key, _ = key_issue(actor=alice, application=application, name="ci", expires_at=now + timedelta(days=10))
    assert key_expiry_evaluate(now=now) == 0

    with time_machine.travel(now + timedelta(days=4), tick=False):
        assert key_expiry_evaluate(now=timezone.now()) == 1
        assert key_expiry_evaluate(now=timezone.now()) == 0  # the hourly beat again: nothing new
        notifications_send_due()
    with time_machine.travel(now + timedelta(days=9, hours=12), tick=False):
        assert key_expiry_evaluate(now=timezone.now()) == 1
        notifications_send_due()

    assert [m.subject.split("expires ")[1] for m in mail.outbox] == ["within 7 days", "within a day"]
    assert Notification.objects.filter(kind="key_expiry", status="sent").count() == 2


def test_a_key_found_inside_one_day_gets_only_the_1_day_warning(org, alice, application, subscription) -> None:
    now = timezone.now()
    key_issue(actor=alice, application=application, name="ci", expires_at=now + timedelta(days=2))
    with time_machine.travel(now + timedelta(days=1, hours=12), tick=False):
        assert key_expiry_evaluate(now=timezone.now()) == 1
        notifications_send_due()
    assert len(mail.outbox) == 1 and "within a day" in mail.outbox[0].subject
    assert Notification.objects.filter(status="skipped").count() == 1  # the 7-day one, superseded
