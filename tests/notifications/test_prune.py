"""Retention of the notification outbox: sent and skipped rows past PORTICO_OUTBOX_RETENTION_DAYS are deleted,
pending ones stay; the retention cannot be set shorter than the month a quota email is about."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

from django.utils import timezone

from notifications.models import Kind, Notification
from notifications.services import notifications_prune, notifications_record
from notifications.services.outbox import Draft
from notifications.tasks import prune


def _row(org: Any, user: Any, occurrence: str, status: str, age_days: int) -> Notification:
    notifications_record([Draft(Kind.QUOTA, org.pk, "subscription:1", occurrence, user.pk, {})])
    row = Notification.objects.get(occurrence=occurrence)
    Notification.objects.filter(pk=row.pk).update(status=status, created_at=timezone.now() - timedelta(days=age_days))
    return row


def test_finished_notifications_past_the_retention_are_deleted(org: Any, alice: Any, settings: Any) -> None:
    days = settings.PORTICO_OUTBOX_RETENTION_DAYS
    _row(org, alice, "old-sent", "sent", days + 1)
    _row(org, alice, "old-skipped", "skipped", days + 1)
    _row(org, alice, "old-pending", "pending", days + 1)
    _row(org, alice, "recent-sent", "sent", days - 1)

    prune()

    assert set(Notification.objects.values_list("occurrence", flat=True)) == {"old-pending", "recent-sent"}
    assert notifications_prune(now=timezone.now()) == 0


def test_a_retention_shorter_than_a_month_is_refused_at_start() -> None:
    env = {**os.environ, "PORTICO_OUTBOX_RETENTION_DAYS": "31", "DJANGO_SETTINGS_MODULE": "config.settings"}
    env["DJANGO_DEBUG"] = "1"  # no production secret needed to read the settings
    run = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], env=env, capture_output=True, text=True, check=False
    )
    assert run.returncode != 0 and "PORTICO_OUTBOX_RETENTION_DAYS must be at least 32 days" in run.stderr
