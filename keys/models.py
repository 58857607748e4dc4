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


# --- OAuth2 for API consumers (client credentials, JWT access tokens) ---------------------------------------------


class OAuthClientQuerySet(models.QuerySet["OAuthClient"]):
    def active(self) -> OAuthClientQuerySet:
        """Clients that may still obtain tokens."""
        return self.filter(revoked_at__isnull=True)

    def for_user(self, user: object) -> OAuthClientQuerySet:
        return self.filter(application__organisation__memberships__user=user)


class OAuthClient(models.Model):
    """An application's OAuth2 client (client-credentials grant). Secrets are stored as SHA-256 digests only."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="oauth_clients")
    name = NameField(max_length=100)
    client_id = models.CharField(max_length=64, unique=True, editable=False)
    # Issue #15: a test client's tokens go to the APIs' sandboxes, like test keys (its client_id says so too)
    environment = models.CharField(
        max_length=4, choices=ApiKey.Environment.choices, default=ApiKey.Environment.LIVE, editable=False
    )
    secret_prefix = models.CharField(max_length=20, editable=False)
    secret_last4 = models.CharField(max_length=4, editable=False)
    secret_digest = models.CharField(max_length=64, unique=True, editable=False)
    # After a rotation the previous secret keeps working until previous_secret_expires_at (the grace period).
    previous_secret_digest = models.CharField(max_length=64, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    rotated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = OAuthClientQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "OAuth client"

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"

    @property
    def masked_secret(self) -> str:
        return f"{self.secret_prefix}…{self.secret_last4}"

    def in_grace_at(self, when: datetime) -> bool:
        """A rotated secret still accepted at `when`."""
        return bool(self.previous_secret_digest) and (
            self.previous_secret_expires_at is not None and self.previous_secret_expires_at > when
        )

    def state_at(self, when: datetime) -> str:
        """active, grace (previous secret still accepted) or revoked: what the portal shows."""
        if self.revoked_at is not None:
            return "revoked"
        return "grace" if self.in_grace_at(when) else "active"


class OAuthTokenQuerySet(models.QuerySet["OAuthToken"]):
    def revoked_alive_at(self, when: datetime) -> OAuthTokenQuerySet:
        """Revoked tokens gateways must still refuse: those not yet past their own expiry."""
        return self.filter(revoked_at__isnull=False, expires_at__gt=when)


class OAuthToken(models.Model):
    """A JWT issued to a client. The token is never stored: only its `jti`, scopes and lifetime, for
    introspection and revocation by `jti`. Rows are pruned once expired."""

    jti = models.CharField(max_length=64, unique=True)
    client = models.ForeignKey(OAuthClient, on_delete=models.CASCADE, related_name="tokens")
    scope = models.CharField(max_length=2000, blank=True)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = OAuthTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-issued_at"]
        verbose_name = "OAuth access token"

    def __str__(self) -> str:
        return self.jti

    def is_active_at(self, when: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > when


class SigningKeyQuerySet(models.QuerySet["SigningKey"]):
    def published_at(self, when: datetime) -> SigningKeyQuerySet:
        """Keys in the JWKS at `when`: every key until its last token has expired."""
        return self.filter(Q(published_until__isnull=True) | Q(published_until__gt=when)).order_by("activates_at")

    def signing_at(self, when: datetime) -> SigningKeyQuerySet:
        """Keys allowed to sign at `when`, newest first (the first one signs)."""
        return (
            self.filter(activates_at__lte=when)
            .filter(Q(retires_at__isnull=True) | Q(retires_at__gt=when))
            .order_by("-activates_at", "-id")
        )


class SigningKey(models.Model):
    """A JWT signing key pair. The private half is encrypted at rest; the public half is published (JWKS) from
    creation, but signs only from `activates_at`, so gateways learn it before its first token exists."""

    kid = models.CharField(max_length=64, unique=True, editable=False)
    algorithm = models.CharField(max_length=10, default="ES256", editable=False)
    public_jwk = models.JSONField(editable=False)
    private_key_encrypted = models.TextField(editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    activates_at = models.DateTimeField()
    # Set when a successor takes over: the key stops signing then, and leaves the JWKS once its tokens expired.
    retires_at = models.DateTimeField(null=True, blank=True)
    published_until = models.DateTimeField(null=True, blank=True)

    objects = SigningKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-activates_at", "-id"]

    def __str__(self) -> str:
        return f"{self.algorithm} {self.kid}"
