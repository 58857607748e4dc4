"""The gateway fleet and the versioned change feed that keeps it in step with the platform."""

from __future__ import annotations

from django.db import models
from oauth2_provider.settings import oauth2_settings

from foundation.fields import HttpURLField
from gateway_sync import secrets


class Gateway(models.Model):
    """One edge gateway: how the platform reaches it, and what it last told us."""

    class ErrorSource(models.TextChoices):
        GATEWAY = "gateway", "reported by the gateway (its pulls and heartbeats)"
        PUSH = "push", "a push from the platform"
        COLLECTION = "collection", "log collection"

    class Health(models.TextChoices):
        UNKNOWN = "unknown", "Unknown"
        HEALTHY = "healthy", "Healthy"
        LAGGING = "lagging", "Lagging"
        UNREACHABLE = "unreachable", "Unreachable"

    name = models.SlugField(max_length=64, unique=True)
    admin_url = HttpURLField(help_text="Base URL of the gateway's admin listener, e.g. http://127.0.0.1:8081")
    enabled = models.BooleanField(default=True)
    # The OAuth2 client the gateway authenticates as when it pulls config (client-credentials, scope `gateway`).
    oauth_application = models.OneToOneField(
        oauth2_settings.APPLICATION_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="gateway",
    )
    # The HMAC secret for signed admin requests, encrypted at rest (gateway_sync.secrets).
    push_secret_encrypted = models.TextField(blank=True, editable=False)
    applied_version = models.BigIntegerField(default=0)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    last_pushed_at = models.DateTimeField(null=True, blank=True)
    health = models.CharField(max_length=16, choices=Health.choices, default=Health.UNKNOWN)
    counters = models.JSONField(default=dict, blank=True)
    # What needs an operator, as the last heartbeat said (keys its dict could not hold, state not persisted, a
    # journal to catch up on); replaced by every heartbeat, so it clears itself when the gateway recovers.
    alarms = models.JSONField(default=dict, blank=True)
    # The latest problem with this gateway, until the same channel works again (then it is cleared).
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error_source = models.CharField(max_length=10, choices=ErrorSource.choices, blank=True)
    # Highest log batch sequence ingested and acknowledged; collection resumes after it.
    log_cursor = models.BigIntegerField(default=0)
    # The gateway's digest of that batch: a lost ack finds it unchanged, a spool that started over does not.
    log_cursor_digest = models.CharField(max_length=64, blank=True)
    log_collected_at = models.DateTimeField(null=True, blank=True)
    # The gateway's clock minus the platform's, in seconds (heartbeats and the Date of admin answers): signed
    # requests are stamped in the gateway's time and its events moved to the platform's (docs/gateway-protocol.md).
    clock_offset = models.FloatField(null=True, blank=True)
    clock_measured_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class FeedState(models.Model):
    """The single row holding the feed's current version.

    Every writer bumps it with a row lock held until commit, so versions become visible in the
    order they were allocated: a gateway that has seen version V can never miss a later-committed V-1.
    """

    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"feed at version {self.version}"


class ConfigChange(models.Model):
    """One enforcement-relevant change, written in the same transaction as the change itself."""

    class Kind(models.TextChoices):
        KEY = "key", "Key"
        API = "api", "API"
        PLAN = "plan", "Plan"
        SUBSCRIPTION = "subscription", "Subscription"
        SIGNING_KEY = "signing_key", "JWT signing key (public JWK)"
        OAUTH_CLIENT = "oauth_client", "Revoked OAuth client"
        OAUTH_TOKEN = "oauth_token", "Revoked OAuth access token"
        CLIENT_CERT = "client_cert", "Client certificate (mTLS)"

    class Op(models.TextChoices):
        UPSERT = "upsert", "Upsert"
        DELETE = "delete", "Delete"

    TEXT_IDS = frozenset({Kind.KEY, Kind.SIGNING_KEY, Kind.OAUTH_CLIENT, Kind.OAUTH_TOKEN, Kind.CLIENT_CERT})

    version = models.BigIntegerField(primary_key=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    op = models.CharField(max_length=8, choices=Op.choices)
    # Key digest for keys, `kid`, `client_id` or `jti` for the OAuth kinds, the integer id (as text) otherwise.
    object_id = models.CharField(max_length=64)
    data = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["version"]

    def __str__(self) -> str:
        return f"v{self.version} {self.kind} {self.op} {self.object_id}"

    def as_delta(self) -> dict[str, object]:
        """The change as the gateway protocol's delta entry (docs/gateway-protocol.md §3)."""
        object_id: str | int = self.object_id if self.kind in self.TEXT_IDS else int(self.object_id)
        data = secrets.unseal(self.data)  # an upstream client key is stored encrypted (docs/mtls.md)
        return {"version": self.version, "kind": self.kind, "op": self.op, "id": object_id, "data": data}
