"""Celery tasks: one send per notification on commit, a periodic sweep, and the periodic checks that decide."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from notifications import services


@shared_task(ignore_result=True)
def send(notification_id: int) -> None:
    """Send one notification if it is still due (a duplicate or late task does nothing)."""
    services.notification_send(notification_id=notification_id)


@shared_task(ignore_result=True, expires=60)
def send_due() -> None:
    """Retries whose time has come, and notifications whose on-commit task was lost."""
    services.notifications_send_due()


@shared_task(ignore_result=True, expires=60)
def check_quotas() -> None:
    """Quota thresholds crossed by the usage collected so far."""
    services.quota_thresholds_evaluate(now=timezone.now())


@shared_task(ignore_result=True, expires=600)
def check_key_expiry() -> None:
    """Keys that expire within 7 days or 1 day."""
    services.key_expiry_evaluate(now=timezone.now())


@shared_task(ignore_result=True, expires=600)
def check_certificate_expiry() -> None:
    """Client certificates that expire within 30, 7 or 1 days."""
    services.certificate_expiry_evaluate(now=timezone.now())


@shared_task(ignore_result=True, expires=3600)
def prune() -> None:
    """Sent and skipped notifications past the outbox retention."""
    services.notifications_prune(now=timezone.now())
