"""One row per email ever decided on, unique per (kind, recipient, subject, period): the exactly-once record."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Kind(models.TextChoices):
    """What an email is about; each kind can be turned off per user."""

    QUOTA = "quota", "Quota reached 80% or 100%"
    KEY_EXPIRY = "key_expiry", "API key expires soon"
    KEY_CHANGED = "key_changed", "API key revoked or rotated by someone else"
    SUBSCRIPTION = "subscription", "Subscription approved or rejected"
    ANOMALY = "anomaly", "Unusual traffic, errors or denials of an API key"
    CERTIFICATE_EXPIRY = "certificate_expiry", "Client certificate expires soon"


class NotificationQuerySet(models.QuerySet["Notification"]):
    def due(self, when: object) -> NotificationQuerySet:
        """Waiting to be sent, and not held back by a retry delay."""
        return self.filter(status=Notification.Status.PENDING, next_attempt_at__lte=when)


class Notification(models.Model):
    """An email to one recipient; created in the transaction that decided to send it, sent by a worker."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        SKIPPED = "skipped"  # superseded (a higher threshold at once) or the recipient opted out meanwhile

    kind = models.CharField(max_length=20, choices=Kind.choices)
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    organisation = models.ForeignKey("portal.Organisation", on_delete=models.CASCADE, related_name="+")
    # What it is about ("subscription:12", "key:7") and which occurrence ("day:2026-11-29:80", "1d:<expiry>").
    subject = models.CharField(max_length=60)
    occurrence = models.CharField(max_length=80)
    context = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=200, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "recipient", "subject", "occurrence"], name="notification_once_per_occurrence"
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="notification_due")]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject} {self.occurrence} to {self.recipient_id}"


class OptOut(models.Model):
    """A user turned one kind of email off (no row: the kind is on)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_opt_outs")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="notification_opt_out_once")]

    def __str__(self) -> str:
        return f"{self.user_id} opted out of {self.kind}"
