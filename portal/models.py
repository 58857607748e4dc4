"""Organisations, members, the API catalog, applications and subscriptions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from foundation.fields import HttpURLField, NameField
from foundation.validators import (
    validate_http_methods,
    validate_no_control_chars,
    validate_origins,
    validate_path_prefix,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def default_methods() -> list[str]:
    """Read-write REST verbs; admins narrow this per API."""
    return ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


class OrganisationQuerySet(models.QuerySet["Organisation"]):
    def for_user(self, user: User) -> OrganisationQuerySet:
        """Organisations the user belongs to: the scope of every portal and API lookup."""
        return self.filter(memberships__user=user)


class Organisation(models.Model):
    """A tenant: owns applications, keys and usage. Every developer has a personal one."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"

    name = NameField(max_length=100)
    is_personal = models.BooleanField(default=False)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrganisationQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class Role(models.TextChoices):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


# Roles allowed to manage members, see the audit log and change organisation settings.
MANAGER_ROLES = frozenset({Role.OWNER, Role.ADMIN})


class Membership(models.Model):
    """A user's role in an organisation."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation", "user"], name="membership_unique_user")]
        ordering = ["organisation_id", "created_at"]

    def __str__(self) -> str:
        return f"{self.user} in {self.organisation} ({self.role})"

    @property
    def can_manage(self) -> bool:
        return self.role in MANAGER_ROLES


class Invitation(models.Model):
    """An emailed, signed, expiring invitation to join an organisation with a role."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "email"],
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_email",
            )
        ]

    def __str__(self) -> str:
        return f"Invitation of {self.email} to {self.organisation}"

    def is_open_at(self, when: datetime) -> bool:
        return self.accepted_at is None and self.revoked_at is None and when < self.expires_at


class ApiQuerySet(models.QuerySet["Api"]):
    def visible_to(self, user: User | None) -> ApiQuerySet:
        """Public APIs for everyone; private ones only for staff (they are granted by admins)."""
        if user is not None and user.is_authenticated and user.is_staff:
            return self.all()
        return self.filter(visibility=Api.Visibility.PUBLIC)


class Api(models.Model):
    """A published API: where the gateway routes it and what it accepts."""

    class Visibility(models.TextChoices):
        PUBLIC = "public"
        PRIVATE = "private"

    name = NameField(max_length=100)
    slug = models.SlugField(max_length=60, unique=True)
    description = models.TextField(blank=True, validators=[validate_no_control_chars])
    version = NameField(max_length=30, default="v1")
    upstream_url = HttpURLField(help_text="Base URL the gateway forwards to, e.g. http://10.0.0.5:9000")
    # Issue #15: test keys are routed here instead, with their own counters; blank = the API refuses test keys.
    sandbox_upstream_url = HttpURLField(
        blank=True,
        help_text="Base URL the gateway forwards test keys' requests to (a sandbox). Empty: test keys are refused.",
    )
    path_prefix = models.CharField(max_length=100, unique=True, validators=[validate_path_prefix])
    host = models.CharField(max_length=255, blank=True, help_text="Optional Host header the API answers on.")
    strip_prefix = models.BooleanField(default=True, help_text="Remove the public prefix before forwarding.")
    methods = models.JSONField(default=default_methods, validators=[validate_http_methods])
    max_body_bytes = models.PositiveIntegerField(
        default=1_048_576, validators=[MaxValueValidator(100 * 1024 * 1024)], help_text="Largest request body."
    )
    key_header = models.CharField(
        max_length=60, default="X-API-Key", validators=[RegexValidator(r"^[A-Za-z0-9-]+$", "Letters, digits, dashes.")]
    )
    allow_query_key = models.BooleanField(default=False, help_text="Accept ?api_key= (keys then appear in URLs).")
    upstream_tls_verify = models.BooleanField(
        default=True,
        verbose_name="Verify the upstream's TLS certificate",
        help_text="For an https upstream: gateways check its certificate against their CA bundle and its host name. "
        "Turn off only for a private upstream with a self-signed certificate: the connection is then "
        "encrypted but not authenticated.",
    )
    connect_timeout_ms = models.PositiveIntegerField(default=5_000, validators=[MinValueValidator(1)])
    read_timeout_ms = models.PositiveIntegerField(default=30_000, validators=[MinValueValidator(1)])
    send_timeout_ms = models.PositiveIntegerField(default=30_000, validators=[MinValueValidator(1)])
    openapi_document = models.JSONField(null=True, blank=True, help_text="OpenAPI 3 document shown in the portal.")
    cors_allowed_origins = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_origins],
        help_text="Browser origins that may call this API through the gateway (CORS), e.g. "
        '["https://app.example.com"]. The portal itself is always allowed, for its try-it console.',
    )
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ApiQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "API"

    def __str__(self) -> str:
        return f"{self.name} {self.version}"

    def first_request_path(self) -> str:
        """A path worth calling first: the document's first GET operation without path parameters (served under
        the public prefix), else the prefix itself."""
        paths = (self.openapi_document or {}).get("paths") if isinstance(self.openapi_document, dict) else None
        for path, operations in (paths or {}).items():
            if isinstance(path, str) and "{" not in path and isinstance(operations, dict) and "get" in operations:
                return self.path_prefix + (path if path.startswith("/") else f"/{path}")
        return f"{self.path_prefix}/"


class Plan(models.Model):
    """Limits and quotas an application gets on one API."""

    class StoreFailureMode(models.TextChoices):
        ALLOW = "allow", "Allow with a local per-gateway limit"
        DENY = "deny", "Deny with 503"

    class QuotaScope(models.TextChoices):
        APPLICATION = "application", "Each application"
        ORGANISATION = "organisation", "The whole organisation"

    class RateScope(models.TextChoices):
        KEY = "key", "Each key or OAuth client"
        ORGANISATION = "organisation", "The whole organisation"

    api = models.ForeignKey(Api, on_delete=models.CASCADE, related_name="plans")
    name = NameField(max_length=60)
    slug = models.SlugField(max_length=60)
    description = models.TextField(blank=True, validators=[validate_no_control_chars])
    rate_per_second = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Empty means unlimited."
    )
    rate_per_minute = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Empty means unlimited."
    )
    quota_per_day = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Empty means unlimited."
    )
    quota_per_month = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Empty means unlimited."
    )
    # Issue #15: limits for test keys, counted apart from live traffic; empty means the same as the live limit.
    test_rate_per_second = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="For test keys. Empty: as live."
    )
    test_rate_per_minute = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="For test keys. Empty: as live."
    )
    test_quota_per_day = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="For test keys. Empty: as live."
    )
    test_quota_per_month = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="For test keys. Empty: as live."
    )
    price_label = models.CharField(max_length=60, blank=True, default="Free")
    requires_approval = models.BooleanField(default=False)
    # New plans start unpublished, so staff can review the limits before developers can pick them.
    is_public = models.BooleanField(
        default=False, verbose_name="published", help_text="Offered to developers in the catalog."
    )
    display_order = models.PositiveSmallIntegerField(default=0)
    store_failure_mode = models.CharField(
        max_length=5,
        choices=StoreFailureMode.choices,
        default=StoreFailureMode.ALLOW,
        help_text="What gateways do when the shared rate-limit store is unreachable.",
    )
    # Issue #15: who shares one counter. Organisation scope keys the gateways' counters by (organisation, plan), and
    # the platform sums and blocks the organisation's subscriptions on the plan together.
    quota_scope = models.CharField(
        max_length=12,
        choices=QuotaScope.choices,
        default=QuotaScope.APPLICATION,
        help_text="Whose requests count against one quota: each subscribed application's, or all of an "
        "organisation's applications' together.",
    )
    rate_scope = models.CharField(
        max_length=12,
        choices=RateScope.choices,
        default=RateScope.KEY,
        help_text="Whose requests share one rate limit: each key (or OAuth client) has its own, or all of an "
        "organisation's keys and clients share one.",
    )
    # OAuth2 access tokens for subscribers of this plan live this long (the shortest of the requested APIs' plans
    # wins); empty means PORTICO_OAUTH_TOKEN_LIFETIME. Capped by PORTICO_OAUTH_MAX_TOKEN_LIFETIME.
    access_token_lifetime_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(60), MaxValueValidator(86400)],
        help_text="Lifetime of OAuth2 access tokens (seconds). Empty means the platform default (15 minutes).",
    )

    class Meta:
        ordering = ["api_id", "display_order", "id"]
        constraints = [models.UniqueConstraint(fields=["api", "slug"], name="plan_unique_slug_per_api")]

    def __str__(self) -> str:
        return f"{self.api.name} / {self.name}"

    def bursts_in_words(self) -> str:
        """How the rate limits let traffic through (GCRA at the gateways): a full window's count at once, then
        one request's worth back at a steady pace. What the plan page and the docs promise."""
        parts = []
        for limit, window, unit in ((self.rate_per_second, 1, "second"), (self.rate_per_minute, 60, "minute")):
            if limit:
                interval = window / limit
                pace = f"{interval:.3g} s" if interval >= 0.01 else f"{interval * 1000:.3g} ms"
                parts.append(f"up to {limit:,} at once, then one every {pace} ({limit:,} per {unit} on average)")
        return "; ".join(parts).capitalize() + "." if parts else "No rate limit."

    @property
    def quota_shared(self) -> bool:
        return self.quota_scope == self.QuotaScope.ORGANISATION

    @property
    def rate_shared(self) -> bool:
        return self.rate_scope == self.RateScope.ORGANISATION

    def sharing_in_words(self) -> str:
        """Who shares the plan's counters, as the plan page and the catalog API say it."""
        parts = []
        if self.quota_per_day or self.quota_per_month:
            parts.append(
                "Quota shared by all your organisation's applications."
                if self.quota_shared
                else "Quota counted per application."
            )
        if self.rate_per_second or self.rate_per_minute:
            parts.append(
                "Rate limit shared by all your organisation's keys and OAuth clients."
                if self.rate_shared
                else "Rate limit applies to each key or OAuth client separately."
            )
        return " ".join(parts) if parts else "No limits to share."

    def clean(self) -> None:
        """Limits that contradict each other would make one of them a lie on the plan page."""
        errors = {}
        if self.rate_per_second and self.rate_per_minute and self.rate_per_second > self.rate_per_minute:
            errors["rate_per_second"] = (
                f"{self.rate_per_second} per second is more than the {self.rate_per_minute} per minute allows; "
                "lower it or raise the per-minute rate."
            )
        if self.quota_per_day and self.quota_per_month and self.quota_per_day > self.quota_per_month:
            errors["quota_per_day"] = (
                f"A daily quota of {self.quota_per_day} is more than the monthly quota of {self.quota_per_month}; "
                "lower it or raise the monthly quota."
            )
        # the limits test keys get (issue #15): each test limit, or the live one it defaults to
        test_rps = self.test_rate_per_second or self.rate_per_second
        test_rpm = self.test_rate_per_minute or self.rate_per_minute
        if (self.test_rate_per_second or self.test_rate_per_minute) and test_rps and test_rpm and test_rps > test_rpm:
            errors["test_rate_per_second"] = (
                f"Test keys would get {test_rps} per second but only {test_rpm} per minute; lower the first or raise "
                "the second."
            )
        test_qd = self.test_quota_per_day or self.quota_per_day
        test_qm = self.test_quota_per_month or self.quota_per_month
        if (self.test_quota_per_day or self.test_quota_per_month) and test_qd and test_qm and test_qd > test_qm:
            errors["test_quota_per_day"] = (
                f"Test keys would get a daily quota of {test_qd} but a monthly one of {test_qm}; lower the first or "
                "raise the second."
            )
        if errors:
            raise ValidationError(errors)


class ApplicationQuerySet(models.QuerySet["Application"]):
    def for_user(self, user: User) -> ApplicationQuerySet:
        return self.filter(organisation__memberships__user=user)


class Application(models.Model):
    """A consumer of APIs, owned by an organisation; keys and subscriptions hang off it."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="applications")
    name = NameField(max_length=100)
    description = models.TextField(blank=True, max_length=2000, validators=[validate_no_control_chars])
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    objects = ApplicationQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


# Why a subscription is blocked, in the words the portal and the API use (reasons are set by analytics.services.quota).
BLOCK_REASONS = {"quota-day": "daily quota used up", "quota-month": "monthly quota used up"}
STATE_DESCRIPTIONS = {
    "pending": "Waiting for approval",
    "active": "Active",
    "suspended": "Suspended by staff",
    "cancelled": "Cancelled",
    "rejected": "Rejected",
}


class SubscriptionQuerySet(models.QuerySet["Subscription"]):
    def live(self) -> SubscriptionQuerySet:
        """Subscriptions that have not ended: at most one per application and API."""
        return self.exclude(status__in=[Subscription.Status.CANCELLED, Subscription.Status.REJECTED])


class Subscription(models.Model):
    """An application's use of an API on a plan; pending until approved when the plan requires it."""

    class Status(models.TextChoices):
        PENDING = "pending"
        ACTIVE = "active"
        SUSPENDED = "suspended"
        CANCELLED = "cancelled"
        REJECTED = "rejected"

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="subscriptions")
    api = models.ForeignKey(Api, on_delete=models.PROTECT, related_name="subscriptions")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # Set by quota enforcement: the gateway refuses traffic until then.
    blocked_until = models.DateTimeField(null=True, blank=True)
    blocked_reason = models.CharField(max_length=20, blank=True)
    # A move to a plan that needs approval waits here; `plan` keeps serving traffic until staff decide.
    requested_plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    plan_requested_at = models.DateTimeField(null=True, blank=True)

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["application", "api"],
                condition=~Q(status="cancelled") & ~Q(status="rejected"),
                name="subscription_one_live_per_api",
            )
        ]

    def __str__(self) -> str:
        return f"{self.application} -> {self.plan}"

    def is_blocked_at(self, when: datetime) -> bool:
        """Refused at the gateways because a quota is used up (blocks end by themselves at `blocked_until`)."""
        return self.blocked_until is not None and self.blocked_until > when

    def state_at(self, when: datetime) -> str:
        """What developers should read first: `blocked` overrides `active`; other statuses speak for themselves."""
        if self.status == self.Status.ACTIVE and self.is_blocked_at(when):
            return "blocked"
        return self.status

    def state_description_at(self, when: datetime) -> str:
        """The state in words, e.g. "Blocked until 00:00 UTC — daily quota used up"."""
        if self.state_at(when) != "blocked":
            return STATE_DESCRIPTIONS[self.status]
        until = self.blocked_until.astimezone(UTC)  # type: ignore[union-attr]  (blocked implies a date)
        # Within a day the hour says enough (a daily quota resets at the next midnight); beyond it, the date too.
        moment = (
            until.strftime("%H:%M UTC") if until - when <= timedelta(days=1) else until.strftime("%-d %b %Y %H:%M UTC")
        )
        return f"Blocked until {moment} — {BLOCK_REASONS.get(self.blocked_reason, 'traffic refused')}"
