"""Usage collected from the gateways: ingested batches, raw request events, rollups and quota counters.

Ids of other apps are plain integers here, not foreign keys: events are written by COPY at tens of thousands per
second, outlive the objects they mention (a deleted application's usage stays readable) and are validated at
ingest instead (analytics.services.ingest). Rollups use 0 for "none" so NULLs never split a group in the unique index.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from gateway_sync.models import Gateway
from portal.models import Subscription

# Upper bounds (milliseconds) of the latency histogram buckets; one more bucket holds everything slower.
# Roughly 1.6x apart, so an interpolated percentile is within about +-25% of the true value.
LATENCY_BOUNDS_MS: tuple[float, ...] = (
    1,
    2,
    3,
    5,
    8,
    13,
    20,
    30,
    50,
    80,
    130,
    200,
    300,
    500,
    800,
    1300,
    2000,
    3000,
    5000,
    10000,
    30000,
)
LATENCY_FIELDS: tuple[str, ...] = tuple(f"lat_{i:02d}" for i in range(len(LATENCY_BOUNDS_MS) + 1))

# The operation dimension of rollups: "METHOD /template" of the API's OpenAPI document (analytics.services.operations),
# OPERATION_OTHER for a request of a known API that matches none of its operations (so random paths make one group),
# OPERATION_NONE when there is no API (unrouted) or the rollup was counted before operations were.
OPERATION_OTHER = "other"
OPERATION_NONE = ""
OPERATION_MAX_LENGTH = 200


class IngestedBatch(models.Model):
    """One access-log batch counted into usage: its (gateway, sequence) is what makes ingest exactly-once."""

    gateway = models.ForeignKey(Gateway, on_delete=models.CASCADE, related_name="+")
    sequence = models.BigIntegerField()
    records = models.PositiveIntegerField(default=0, help_text="Records stored and counted.")
    rejected = models.PositiveIntegerField(default=0, help_text="Records refused as malformed or hostile.")
    sanitised = models.PositiveIntegerField(default=0, help_text="Records stored after fixing fields.")
    skipped_before = models.PositiveIntegerField(
        default=0, help_text="Sequence numbers missing just before this batch (dropped by the gateway's spool)."
    )
    ingested_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["gateway_id", "sequence"]
        constraints = [models.UniqueConstraint(fields=["gateway", "sequence"], name="ingested_batch_unique")]
        verbose_name_plural = "ingested batches"

    def __str__(self) -> str:
        return f"batch {self.sequence} of gateway {self.gateway_id}"


class RequestEvent(models.Model):
    """One request as a gateway logged it. On PostgreSQL the table is range-partitioned by day on `time`."""

    pk = models.CompositePrimaryKey("gateway_id", "sequence", "position", "time")
    time = models.DateTimeField()
    gateway_id = models.BigIntegerField()
    sequence = models.BigIntegerField()
    position = models.IntegerField()
    request_id = models.CharField(max_length=64)
    method = models.CharField(max_length=16)
    path = models.CharField(max_length=512)
    status = models.SmallIntegerField()
    latency_ms = models.FloatField(null=True)
    upstream_ms = models.FloatField(null=True)
    bytes_in = models.BigIntegerField()
    bytes_out = models.BigIntegerField()
    client_ip = models.GenericIPAddressField(null=True)
    api_id = models.BigIntegerField(null=True)
    application_id = models.BigIntegerField(null=True)
    organisation_id = models.BigIntegerField(null=True)
    subscription_id = models.BigIntegerField(null=True)
    plan_id = models.BigIntegerField(null=True)
    key_id = models.BigIntegerField(null=True)
    key_prefix = models.CharField(max_length=20)
    limit_outcome = models.CharField(max_length=8)
    denial_cause = models.CharField(
        max_length=32, db_default="", help_text="Problem type of an answer the gateway made itself, e.g. rate-limited."
    )

    class Meta:
        ordering = ["time"]
        # The request log reads one application's events newest first by the keyset (time, gateway, sequence,
        # position) and looks requests up by id. On PostgreSQL these are partitioned indexes: every daily
        # partition, including those created later, gets its own.
        indexes = [
            models.Index(
                fields=["application_id", "time", "gateway_id", "sequence", "position"], name="request_event_log_idx"
            ),
            models.Index(fields=["application_id", "request_id"], name="request_event_rid_idx"),
            # Filters on a denial cause or an error status that match few rows (or none) would otherwise walk the
            # application's whole log index; partial, so they cost ingest only for the few denied or failed requests.
            models.Index(
                fields=["application_id", "denial_cause", "time", "gateway_id", "sequence", "position"],
                condition=~models.Q(denial_cause=""),
                name="request_event_denial_idx",
            ),
            models.Index(
                fields=["application_id", "status", "time", "gateway_id", "sequence", "position"],
                condition=models.Q(status__gte=400),
                name="request_event_error_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.status}"

    @property
    def display_path(self) -> str:
        """The path as pages and the API show it: gateways log none, but a query string is never shown."""
        return self.path.split("?", 1)[0]


class UsageRollup(models.Model):
    """Additive counters per time bucket and (organisation, application, key or OAuth client, API, operation,
    status class)."""

    class Granularity(models.TextChoices):
        MINUTE = "minute"
        HOUR = "hour"
        DAY = "day"

    granularity = models.CharField(max_length=6, choices=Granularity.choices)
    bucket = models.DateTimeField(help_text="Start of the minute, hour or UTC day.")
    organisation_id = models.BigIntegerField(default=0)
    application_id = models.BigIntegerField(default=0)
    key_id = models.BigIntegerField(default=0)
    client_id = models.BigIntegerField(default=0, help_text="The OAuth client of access-token traffic, else 0.")
    api_id = models.BigIntegerField(default=0)
    operation = models.CharField(
        max_length=OPERATION_MAX_LENGTH,
        default=OPERATION_NONE,
        db_default=OPERATION_NONE,
        help_text='"GET /users/{id}" from the API\'s OpenAPI paths, "other" when none matches, empty without an API.',
    )
    status_class = models.PositiveSmallIntegerField(help_text="1 to 5 for 1xx to 5xx.")
    requests = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0, help_text="Answers with status 500 or above.")
    denied = models.BigIntegerField(default=0, help_text="Refused by a rate limit, quota or block.")
    auth_failures = models.BigIntegerField(default=0, db_default=0, help_text="Answers with status 401 or 403.")
    throttled = models.BigIntegerField(default=0, db_default=0, help_text="Answers with status 429.")
    bytes_in = models.BigIntegerField(default=0)
    bytes_out = models.BigIntegerField(default=0)
    latency_sum_ms = models.FloatField(default=0)
    lat_00 = models.BigIntegerField(default=0)
    lat_01 = models.BigIntegerField(default=0)
    lat_02 = models.BigIntegerField(default=0)
    lat_03 = models.BigIntegerField(default=0)
    lat_04 = models.BigIntegerField(default=0)
    lat_05 = models.BigIntegerField(default=0)
    lat_06 = models.BigIntegerField(default=0)
    lat_07 = models.BigIntegerField(default=0)
    lat_08 = models.BigIntegerField(default=0)
    lat_09 = models.BigIntegerField(default=0)
    lat_10 = models.BigIntegerField(default=0)
    lat_11 = models.BigIntegerField(default=0)
    lat_12 = models.BigIntegerField(default=0)
    lat_13 = models.BigIntegerField(default=0)
    lat_14 = models.BigIntegerField(default=0)
    lat_15 = models.BigIntegerField(default=0)
    lat_16 = models.BigIntegerField(default=0)
    lat_17 = models.BigIntegerField(default=0)
    lat_18 = models.BigIntegerField(default=0)
    lat_19 = models.BigIntegerField(default=0)
    lat_20 = models.BigIntegerField(default=0)
    lat_21 = models.BigIntegerField(default=0, help_text="Slower than the last bound.")

    class Meta:
        ordering = ["granularity", "bucket"]
        constraints = [
            # Column order serves the usage queries: one application's buckets in a time range.
            models.UniqueConstraint(
                fields=[
                    "granularity",
                    "application_id",
                    "bucket",
                    "api_id",
                    "key_id",
                    "status_class",
                    "organisation_id",
                    "client_id",
                    "operation",
                ],
                name="usage_rollup_group_unique",
            )
        ]
        indexes = [models.Index(fields=["granularity", "bucket"], name="usage_rollup_bucket_idx")]

    def __str__(self) -> str:
        return f"{self.granularity} {self.bucket:%Y-%m-%d %H:%M} app {self.application_id}: {self.requests}"

    def histogram(self) -> list[int]:
        return [getattr(self, name) for name in LATENCY_FIELDS]


class QuotaUsage(models.Model):
    """Admitted requests of a subscription in one UTC day or month: what quotas are checked against."""

    class Period(models.TextChoices):
        DAY = "d", "Day"
        MONTH = "m", "Month"

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="+")
    period = models.CharField(max_length=1, choices=Period.choices)
    start = models.DateField()
    used = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["subscription_id", "period", "start"]
        constraints = [models.UniqueConstraint(fields=["subscription", "period", "start"], name="quota_usage_unique")]

    def __str__(self) -> str:
        return f"subscription {self.subscription_id} {self.period} {self.start}: {self.used}"
