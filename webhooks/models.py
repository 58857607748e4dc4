"""Webhook endpoints of an organisation, the event outbox, and one delivery per (event, endpoint)."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from portal.models import Organisation


class EventType(models.TextChoices):
    KEY_CREATED = "key.created", "An API key was created"
    KEY_ROTATED = "key.rotated", "An API key was rotated"
    KEY_REVOKED = "key.revoked", "An API key was revoked"
    OAUTH_CLIENT_CREATED = "oauth_client.created", "An OAuth client was created"
    OAUTH_CLIENT_ROTATED = "oauth_client.rotated", "An OAuth client's secret was rotated"
    OAUTH_CLIENT_REVOKED = "oauth_client.revoked", "An OAuth client was revoked (with its tokens)"
    SUBSCRIPTION_CHANGED = (
        "subscription.changed",
        "A subscription was created, approved, rejected, cancelled or changed plan",
    )
    USAGE_ANOMALY = "usage.anomaly", "A key's traffic, error or denial rate was flagged as anomalous"
    TEST = "webhook.test", "A test event sent from the portal"


SUBSCRIBABLE_EVENTS = [choice for choice in EventType.values if choice != EventType.TEST]


def new_event_id() -> str:
    """The stable `webhook-id`: the same for every attempt of an event, so receivers can deduplicate."""
    return f"msg_{uuid.uuid4().hex}"


class Endpoint(models.Model):
    """A receiver URL of an organisation, with the event types it wants and its signing secret (encrypted)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.CharField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list)
    # Fernet-encrypted `whsec_…`: the raw secret is needed to sign, so it cannot be a digest.
    secret_encrypted = models.TextField(editable=False)
    # After a rotation the previous secret signs too, until previous_secret_expires_at.
    previous_secret_encrypted = models.TextField(blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    # First failure since the last success; failing for PORTICO_WEBHOOKS_DISABLE_AFTER disables the endpoint.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return event_type == EventType.TEST or event_type in self.event_types

    def previous_secret_signs_at(self, when: datetime) -> bool:
        expires = self.previous_secret_expires_at
        return bool(self.previous_secret_encrypted) and expires is not None and when < expires


class Event(models.Model):
    """One thing that happened, written in the same transaction as the change (the outbox)."""

    id = models.CharField(primary_key=True, max_length=40, default=new_event_id, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="webhook_events")
    type = models.CharField(max_length=40, choices=EventType.choices)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class DeliveryQuerySet(models.QuerySet["Delivery"]):
    def due(self, when: datetime) -> DeliveryQuerySet:
        return self.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=when)


class Delivery(models.Model):
    """An event on its way to one endpoint: pending until a 2xx, failed once retries are exhausted."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Retries stop this long after the first attempt of the current round (a "send again" starts a new round).
    retry_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["event", "endpoint"], name="webhooks_one_delivery_per_endpoint")]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id}"


class Attempt(models.Model):
    """One HTTP request of a delivery, as the delivery log shows it."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    request_body = models.TextField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=1024, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="webhooks_attempt_number")]

    @property
    def succeeded(self) -> bool:
        return self.response_status is not None and 200 <= self.response_status < 300
