"""API keys (for consumers at the gateway) and personal access tokens (for the Portico REST API)."""

from __future__ import annotations

import ipaddress
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from foundation.fields import NameField
from portal.models import Api, Application


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def usable_at(self, when: datetime) -> ApiKeyQuerySet:
        """Keys the gateway should accept at `when`: not revoked and not past their expiry."""
        return self.filter(status=ApiKey.Status.ACTIVE).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=when))

    def for_user(self, user: object) -> ApiKeyQuerySet:
        return self.filter(application__organisation__memberships__user=user)


class ApiKey(models.Model):
    """A consumer credential. The secret itself is never stored: only its SHA-256 digest."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        REVOKED = "revoked"

    class Environment(models.TextChoices):
        LIVE = "live"
        TEST = "test"

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="keys")
    name = NameField(max_length=100)
    environment = models.CharField(max_length=4, choices=Environment.choices, default=Environment.LIVE)
    prefix = models.CharField(max_length=20, db_index=True, editable=False)
    last4 = models.CharField(max_length=4, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    # A key past expires_at is dead; rotation sets it on the old key to end the grace period.
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    allowed_cidrs = models.JSONField(default=list, blank=True, help_text="Empty means any client address.")
    apis = models.ManyToManyField(Api, blank=True, related_name="+", help_text="Empty means every subscribed API.")
    replaced_by = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaces", editable=False
    )

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.masked})"

    @property
    def masked(self) -> str:
        """What people see after creation: the prefix and the last four characters."""
        return f"{self.prefix}…{self.last4}"

    def is_usable_at(self, when: datetime) -> bool:
        return self.status == self.Status.ACTIVE and (self.expires_at is None or self.expires_at > when)

    def state_at(self, when: datetime) -> str:
        """active, grace (rotated, still valid), expired or revoked: what the portal shows."""
        if self.status == self.Status.REVOKED:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= when:
            return "expired"
        if self.replaced_by_id is not None:
            return "grace"
        return "active"

    def allows_ip(self, address: str) -> bool:
        """Mirror of the gateway's CIDR check, used by tests and the portal's 'try it' hints."""
        if not self.allowed_cidrs:
            return True
        ip = ipaddress.ip_address(address)
        return any(ip in ipaddress.ip_network(cidr) for cidr in self.allowed_cidrs)


class PersonalAccessToken(models.Model):
    """A user's token for the Portico REST API (`Authorization: Bearer ptc_pat_…`)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_tokens")
    name = NameField(max_length=100)
    prefix = models.CharField(max_length=20, editable=False)
    last4 = models.CharField(max_length=4, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…{self.last4})"

    def is_usable_at(self, when: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > when)
