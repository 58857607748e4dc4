"""Expiry warnings for client certificates: emailed 30, 7 and 1 days before the end, once per threshold, by the
periodic task; revoked certificates are not warned about."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.core import mail

from certificates.services import certificate_register, certificate_revoke
from notifications import tasks
from notifications.models import Notification
from tests.support.client_certs import make_client_cert

pytestmark = pytest.mark.django_db


def test_a_certificate_is_warned_30_7_and_1_days_before_it_expires_once_each(org, alice, application, tmp_path):
    client = make_client_cert(tmp_path, "backend", days=40)
    cert = certificate_register(actor=alice, application=application, name="backend", pem=client.pem)
    end = cert.not_after

    tasks.check_certificate_expiry()  # 40 days ahead: nothing yet
    for days_left in (29, 29, 6, 0.5):
        with time_machine.travel(end - timedelta(days=days_left), tick=False):
            tasks.check_certificate_expiry()  # the hourly beat, twice at the first threshold: no duplicate
            tasks.send_due()

    assert [m.subject.split("expires ")[1] for m in mail.outbox] == ["within 30 days", "within 7 days", "within a day"]
    assert all(m.to == [alice.email] for m in mail.outbox)
    assert "backend" in mail.outbox[0].body and f"/applications/{application.pk}/certificates/" in mail.outbox[0].body
    assert Notification.objects.filter(kind="certificate_expiry", status="sent").count() == 3


def test_a_certificate_found_inside_7_days_gets_only_that_warning(org, alice, application, tmp_path):
    certificate_register(
        actor=alice, application=application, name="late", pem=make_client_cert(tmp_path, "late", days=5).pem
    )
    tasks.check_certificate_expiry()
    tasks.send_due()

    assert len(mail.outbox) == 1 and "within 7 days" in mail.outbox[0].subject
    assert Notification.objects.filter(kind="certificate_expiry", status="skipped").count() == 1  # the 30-day one


def test_a_revoked_certificate_is_not_warned_about(org, alice, application, tmp_path):
    cert = certificate_register(
        actor=alice, application=application, name="gone", pem=make_client_cert(tmp_path, "gone", days=3).pem
    )
    certificate_revoke(actor=alice, certificate=cert)

    tasks.check_certificate_expiry()

    assert not Notification.objects.filter(kind="certificate_expiry").exists()


def test_the_task_is_on_the_beat_schedule():
    tasks_scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "notifications.tasks.check_certificate_expiry" in tasks_scheduled
