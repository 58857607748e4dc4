"""The notification outbox: a row per email, inserted once (a unique constraint decides), sent by a worker that
claims it with SKIP LOCKED and marks it sent only after the mail server accepted it; failures are retried."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from notifications.models import Notification, OptOut
from notifications.services.preferences import unsubscribe_url

logger = logging.getLogger(__name__)

SEND_TASK = "notifications.tasks.send"
MAX_BACKOFF = timedelta(hours=1)


@dataclass(frozen=True)
class Draft:
    """One email to decide on: what, about which object, which occurrence, for whom."""

    kind: str
    organisation_id: int
    subject: str
    occurrence: str
    recipient_id: int
    context: dict[str, Any]
    skipped: bool = False


def notifications_record(drafts: list[Draft]) -> list[int]:
    """Insert the drafts not recorded before (ON CONFLICT DO NOTHING); enqueue them after commit; return their ids.

    Call inside the transaction that decided: the row commits with the decision, and a second beat, a retried
    task or a rerun after a crash finds the row and inserts nothing."""
    if not drafts:
        return []
    existing = set(
        Notification.objects.filter(
            kind__in={d.kind for d in drafts}, subject__in={d.subject for d in drafts}
        ).values_list("kind", "recipient_id", "subject", "occurrence")
    )
    drafts = [d for d in drafts if (d.kind, d.recipient_id, d.subject, d.occurrence) not in existing]
    now = timezone.now()
    rows = [
        Notification(
            kind=d.kind,
            organisation_id=d.organisation_id,
            subject=d.subject,
            occurrence=d.occurrence,
            recipient_id=d.recipient_id,
            context=d.context,
            status=Notification.Status.SKIPPED if d.skipped else Notification.Status.PENDING,
            created_at=now,
            next_attempt_at=now,
        )
        for d in drafts
    ]
    # A concurrent decision may insert the same row between the read above and here: the constraint wins.
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    wanted = {(d.kind, d.recipient_id, d.subject, d.occurrence) for d in drafts if not d.skipped}
    ids = [
        pk
        for pk, *natural in Notification.objects.filter(
            status=Notification.Status.PENDING, subject__in={d.subject for d in drafts}
        ).values_list("pk", "kind", "recipient_id", "subject", "occurrence")
        if tuple(natural) in wanted
    ]
    transaction.on_commit(lambda: enqueue(ids), robust=True)
    return ids


def enqueue(ids: list[int]) -> None:
    """Ask a worker to send now; with the broker down the periodic sweep sends them a little later."""
    for notification_id in ids:
        try:
            current_app.send_task(SEND_TASK, args=[notification_id], retry=False)
        except Exception as error:  # noqa: BLE001 - any broker failure; its text may hold the broker URL
            logger.warning("could not enqueue notification (%s); the sweep will send it", type(error).__name__)
            return


def _message(notification: Notification) -> EmailMultiAlternatives:
    """Plain-text and HTML parts from templates, absolute links, one recipient, RFC 8058 unsubscribe headers."""
    user = notification.recipient
    unsubscribe = unsubscribe_url(user_id=user.pk, kind=notification.kind)
    context = {
        **notification.context,
        "site_url": settings.PORTICO_SITE_URL.rstrip("/"),
        "unsubscribe_url": unsubscribe,
        "recipient": user,
    }
    base = f"notifications/email/{notification.kind}"
    # A name in the context must never split the Subject header: every line break becomes a space.
    subject = " ".join(
        (settings.ACCOUNT_EMAIL_SUBJECT_PREFIX + render_to_string(f"{base}_subject.txt", context)).split()
    )
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"{base}.txt", context),
        to=[user.email],
        headers={"List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )
    message.attach_alternative(render_to_string(f"{base}.html", context), "text/html")
    return message


def notification_send(*, notification_id: int) -> bool:
    """Send one due notification; True once sent. The row stays locked while the mail server is asked, so a
    concurrent sweep or duplicate task skips it; a failure leaves it pending with a later retry time."""
    with transaction.atomic():
        now = timezone.now()
        notification = (
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("recipient")
            .filter(pk=notification_id)
            .due(now)
            .first()
        )
        if notification is None:
            return False
        if OptOut.objects.filter(user_id=notification.recipient_id, kind=notification.kind).exists():
            notification.status = Notification.Status.SKIPPED
            notification.save(update_fields=["status"])
            return False
        notification.attempts += 1
        try:
            _message(notification).send(fail_silently=False)
        except Exception as error:  # noqa: BLE001 - SMTP, DNS or socket errors alike: retry later
            backoff = min(timedelta(minutes=2 ** min(notification.attempts, 10)), MAX_BACKOFF)
            notification.next_attempt_at = now + backoff
            notification.last_error = type(error).__name__
            notification.save(update_fields=["attempts", "next_attempt_at", "last_error"])
            logger.warning("notification %s not sent (%s); retried later", notification.pk, type(error).__name__)
            return False
        notification.status, notification.sent_at = Notification.Status.SENT, timezone.now()
        notification.save(update_fields=["attempts", "status", "sent_at"])
        return True


def notifications_send_due(*, limit: int = 100) -> int:
    """Send what is due (retries, and rows whose on-commit task was lost); returns how many were sent."""
    ids = list(Notification.objects.due(timezone.now()).order_by("next_attempt_at").values_list("pk", flat=True))
    return sum(notification_send(notification_id=pk) for pk in ids[:limit])


PRUNE_BATCH = 1000  # rows per DELETE: bounded transactions on a big backlog


def notifications_prune(*, now: datetime) -> int:
    """Delete sent and skipped notifications older than PORTICO_OUTBOX_RETENTION_DAYS; pending ones stay.

    A row is what makes its email exactly-once, so the retention is longer than any period a decision is about
    (a month, for monthly quotas; settings refuse less than 32 days): a pruned row is never decided again."""
    cutoff = now - timedelta(days=settings.PORTICO_OUTBOX_RETENTION_DAYS)
    done = Notification.objects.filter(
        created_at__lt=cutoff, status__in=[Notification.Status.SENT, Notification.Status.SKIPPED]
    )
    pruned = 0
    while ids := list(done.order_by("created_at").values_list("pk", flat=True)[:PRUNE_BATCH]):
        pruned += done.filter(pk__in=ids).delete()[0]
    return pruned
