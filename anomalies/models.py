"""Anomaly flags: one row per subject (a key, an OAuth client, a client address) and UTC hour, whichever rule
raised it first.

The unique (subject, hour) constraint is the rate limit and the exactly-once guard: two detection runs racing
over the same hour both try the insert and the database lets one win (docs/anomalies.md).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from keys.models import ApiKey, OAuthClient
from portal.models import Application, Organisation


class Rule(models.TextChoices):
    """What a flag says happened; the thresholds are settings, described in docs/anomalies.md."""

    TRAFFIC_SPIKE = "traffic_spike", "Traffic spike"  # far above the key's 7-day baseline for this hour
    ERROR_RATE = "error_rate", "Error rate jump"  # 5xx answers
    DENIAL_RATE = "denial_rate", "Denial rate jump"  # refused for rate limits, quotas, blocks
    INVALID_KEY_BURST = "invalid_key_burst", "Invalid-key burst"  # to one client address


class FlagQuerySet(models.QuerySet["Flag"]):
    def of_application(self, application_id: int) -> FlagQuerySet:
        """An application's flags, newest hour first."""
        return self.filter(application_id=application_id).order_by("-hour", "-pk")


class Flag(models.Model):
    """An anomaly seen in one UTC hour, for a key or an OAuth client (with its application and organisation) or a
    client address."""

    rule = models.CharField(max_length=20, choices=Rule.choices)
    # "key:<id>", "client:<id>" (an OAuth client's access tokens) or "ip:<address>": what the one-flag-per-hour
    # limit is about.
    subject = models.CharField(max_length=60)
    hour = models.DateTimeField(help_text="Start of the UTC hour the traffic was seen in.")
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.CASCADE, related_name="anomaly_flags"
    )
    application = models.ForeignKey(
        Application, null=True, blank=True, on_delete=models.CASCADE, related_name="anomaly_flags"
    )
    key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.CASCADE, related_name="anomaly_flags")
    oauth_client = models.ForeignKey(
        OAuthClient, null=True, blank=True, on_delete=models.CASCADE, related_name="anomaly_flags"
    )
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    observed = models.BigIntegerField(help_text="Requests (spike, rate jumps) or invalid-key answers in the hour.")
    baseline = models.FloatField(help_text="The 7-day baseline it was compared with (requests, or a rate).")
    details = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    objects = FlagQuerySet.as_manager()

    class Meta:
        ordering = ["-hour", "-pk"]
        constraints = [models.UniqueConstraint(fields=["subject", "hour"], name="anomaly_flag_once_per_hour")]
        indexes = [models.Index(fields=["application", "hour"], name="anomaly_flag_app_hour")]

    def __str__(self) -> str:
        return f"{self.rule} {self.subject} {self.hour:%Y-%m-%d %H:00}"
