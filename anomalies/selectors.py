"""Reads for anomaly detection (from the usage rollups and raw events) and for the pages and API that list flags."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum

from analytics.models import RequestEvent, UsageRollup
from anomalies.models import Flag
from portal.models import Application

BASELINE_DAYS = 7
# Gateway answers that count towards an invalid-key burst: the 401 itself and the 429 its flood throttle gives
# once an address has sent too many (docs/gateway-protocol.md §8): a throttled flood is still a flood.
INVALID_KEY_CAUSES = ("invalid-key", "too-many-invalid-keys")
FLAGS_SHOWN = 50


@dataclass(frozen=True)
class KeyHour:
    """One key's counters in the hour examined and over the 7 days before it (hour rollups)."""

    organisation_id: int
    application_id: int
    key_id: int
    requests: int
    errors: int
    denied: int
    same_hour_requests: int  # the same hour of day on each of the 7 days before: the spike baseline
    week_requests: int  # every hour of the 7 days before: the rate baselines
    week_errors: int
    week_denied: int
    client_id: int = 0  # an OAuth client's row (its access tokens' traffic): key_id is then 0


def key_hours(*, hour: datetime, min_requests: int, column: str = "key_id") -> list[KeyHour]:
    """Keys (column "key_id") or OAuth clients ("client_id") with at least `min_requests` in the hour starting at
    `hour`, with their 7-day history; two queries.

    Rollups keep 0 for "no key" and "no client", so > 0 leaves out unauthenticated traffic."""
    busy = list(
        UsageRollup.objects.filter(granularity=UsageRollup.Granularity.HOUR, bucket=hour, **{f"{column}__gt": 0})
        .values("organisation_id", "application_id", column)
        .annotate(requests=Sum("requests"), errors=Sum("errors"), denied=Sum("denied"))
        .filter(requests__gte=min_requests)
        .order_by(column)
    )
    if not busy:
        return []
    same_hours = [hour - timedelta(days=n) for n in range(1, BASELINE_DAYS + 1)]
    history: dict[int, dict[str, Any]] = {
        row[column]: dict(row)
        for row in UsageRollup.objects.filter(
            granularity=UsageRollup.Granularity.HOUR,
            application_id__in={row["application_id"] for row in busy},
            **{f"{column}__in": [row[column] for row in busy]},
            bucket__gte=hour - timedelta(days=BASELINE_DAYS),
            bucket__lt=hour,
        )
        .values(column)
        .annotate(
            same_hour_requests=Sum("requests", filter=Q(bucket__in=same_hours)),
            week_requests=Sum("requests"),
            week_errors=Sum("errors"),
            week_denied=Sum("denied"),
        )
        .order_by()
    }
    found = []
    for row in busy:
        past = history.get(row[column], {})
        found.append(
            KeyHour(
                organisation_id=row["organisation_id"],
                application_id=row["application_id"],
                key_id=row.get("key_id", 0),
                client_id=row.get("client_id", 0),
                requests=row["requests"],
                errors=row["errors"],
                denied=row["denied"],
                same_hour_requests=past.get("same_hour_requests") or 0,
                week_requests=past.get("week_requests") or 0,
                week_errors=past.get("week_errors") or 0,
                week_denied=past.get("week_denied") or 0,
            )
        )
    return found


def invalid_key_bursts(*, hour: datetime, min_count: int) -> list[tuple[str, int]]:
    """(client address, count) of addresses answered `invalid-key` (or throttled for it) at least `min_count`
    times in the hour starting at `hour`, from the raw events; one query on that day's partition.

    These answers name no application (the gateway found no live key), so `application_id IS NULL` lets the
    request log's index (application, time, …) narrow the scan to the hour's unattributed events."""
    rows = (
        RequestEvent.objects.filter(
            application_id__isnull=True,
            time__gte=hour,
            time__lt=hour + timedelta(hours=1),
            denial_cause__in=INVALID_KEY_CAUSES,
            client_ip__isnull=False,
        )
        .values("client_ip")
        .annotate(n=Count("*"))
        .filter(n__gte=min_count)
        .order_by("client_ip")
    )
    return [(str(row["client_ip"]), int(row["n"])) for row in rows]


def flags_seen(*, subjects: set[str], hours: set[datetime]) -> set[tuple[str, datetime]]:
    """Which of these (subject, hour) pairs are flagged already (a shortcut: the unique constraint decides)."""
    if not subjects:
        return set()
    return set(Flag.objects.filter(subject__in=subjects, hour__in=hours).values_list("subject", "hour"))


def application_flags(*, application: Application) -> QuerySet[Flag]:
    """An application's flags, newest first; the caller has already proven the requester may see the application."""
    return Flag.objects.of_application(application.pk).select_related("key", "oauth_client")
