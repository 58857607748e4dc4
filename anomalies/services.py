"""Anomaly detection: the rules (docs/anomalies.md) applied to the usage rollups and raw events, and the flag
record that goes with each finding: an audit entry, a `usage.anomaly` event (webhooks, emails) in one transaction.

Idempotent: a flag is unique per (subject, hour), so a rerun, a second beat or a concurrent run inserts nothing
new; the insert of a flag and everything announcing it share a savepoint, so a lost race announces nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from anomalies.models import Flag, Rule
from anomalies.selectors import BASELINE_DAYS, KeyHour, flags_seen, invalid_key_bursts, key_hours
from foundation import events
from foundation.audit import audit_record
from keys.models import ApiKey, OAuthClient

EVENT_TYPE = "usage.anomaly"
AUDIT_ACTION = "usage.anomaly_flagged"


@dataclass(frozen=True)
class Finding:
    """What a rule found for one subject in one hour, before it is recorded."""

    rule: str
    subject: str
    hour: datetime
    observed: int
    baseline: float
    details: dict[str, Any] = field(default_factory=dict)
    key_id: int | None = None
    client_ip: str | None = None
    client_id: int | None = None  # an OAuth client (access-token traffic)


def hour_floor(moment: datetime) -> datetime:
    """Start of the UTC hour holding `moment`: the bucket of hour rollups and of flags."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _rate_jump(part: int, total: int, week_part: int, week_total: int) -> bool:
    """A rate of at least the threshold that is also more than FACTOR times the 7-day rate (exact integers)."""
    threshold = settings.PORTICO_ANOMALY_RATE_THRESHOLD_PERCENT
    factor = settings.PORTICO_ANOMALY_FACTOR
    if total < settings.PORTICO_ANOMALY_RATE_MIN_REQUESTS or part * 100 < threshold * total:
        return False
    # part/total > factor * week_part/week_total; an empty week has a rate of 0.
    return week_total == 0 or part * week_total > factor * week_part * total


def key_rules(row: KeyHour, hour: datetime) -> Finding | None:
    """The first rule a key's (or an OAuth client's) hour breaks (spike, then error rate, then denial rate)."""
    subject = f"client:{row.client_id}" if row.client_id else f"key:{row.key_id}"
    key_id, client_id = (None, row.client_id) if row.client_id else (row.key_id, None)
    baseline = row.same_hour_requests / BASELINE_DAYS
    # More than FACTOR times the mean of the same hour on the 7 days before, compared in integers (x7).
    if (
        row.requests >= settings.PORTICO_ANOMALY_SPIKE_MIN_REQUESTS
        and row.requests * BASELINE_DAYS > settings.PORTICO_ANOMALY_FACTOR * row.same_hour_requests
    ):
        details = {"requests": row.requests, "baseline_requests": round(baseline, 2)}
        return Finding(
            Rule.TRAFFIC_SPIKE, subject, hour, row.requests, baseline, details, key_id=key_id, client_id=client_id
        )
    for rule, part, week_part in (
        (Rule.ERROR_RATE, row.errors, row.week_errors),
        (Rule.DENIAL_RATE, row.denied, row.week_denied),
    ):
        if _rate_jump(part, row.requests, week_part, row.week_requests):
            week_rate = week_part / row.week_requests if row.week_requests else 0.0
            details = {
                "requests": row.requests,
                "count": part,
                "rate": round(part / row.requests, 4),
                "baseline_rate": round(week_rate, 4),
            }
            return Finding(rule, subject, hour, row.requests, week_rate, details, key_id=key_id, client_id=client_id)
    return None


def findings_for_hour(*, hour: datetime) -> list[Finding]:
    """Every rule over one UTC hour: per key and per OAuth client from the hour rollups, per client address from
    the raw events."""
    min_requests = min(settings.PORTICO_ANOMALY_SPIKE_MIN_REQUESTS, settings.PORTICO_ANOMALY_RATE_MIN_REQUESTS)
    rows = key_hours(hour=hour, min_requests=min_requests) + key_hours(
        hour=hour, min_requests=min_requests, column="client_id"
    )
    found = [f for row in rows if (f := key_rules(row, hour))]
    for address, count in invalid_key_bursts(hour=hour, min_count=settings.PORTICO_ANOMALY_INVALID_KEY_MIN):
        found.append(
            Finding(
                Rule.INVALID_KEY_BURST,
                f"ip:{address}",
                hour,
                count,
                0.0,
                {"invalid_key_answers": count},
                client_ip=address,
            )
        )
    return found


def flag_describe(flag: Flag) -> dict[str, Any]:
    """A flag as webhooks and emails carry it (never a key's secret: its display prefix and name)."""
    key, client = flag.key, flag.oauth_client
    return {
        "id": flag.pk,
        "rule": flag.rule,
        "hour": flag.hour.isoformat(),
        "application_id": flag.application_id,
        "key": {"id": key.pk, "name": key.name, "prefix": key.prefix} if key is not None else None,
        "oauth_client": {"id": client.pk, "name": client.name, "client_id": client.client_id} if client else None,
        "client_ip": flag.client_ip,
        "observed": flag.observed,
        "baseline": flag.baseline,
        "details": flag.details,
    }


def _flag_insert(finding: Finding, key: ApiKey | None, client: OAuthClient | None = None) -> Flag | None:
    """Insert one flag; None when this (subject, hour) is flagged already (by an earlier or a concurrent run)."""
    credential = key or client
    application = credential.application if credential is not None else None
    try:
        with transaction.atomic():  # a savepoint: a lost race rolls back this insert alone
            return Flag.objects.create(
                rule=finding.rule,
                subject=finding.subject,
                hour=finding.hour,
                organisation=application.organisation if application else None,
                application=application,
                key=key,
                oauth_client=client,
                client_ip=finding.client_ip,
                observed=finding.observed,
                baseline=finding.baseline,
                details=finding.details,
            )
    except IntegrityError:
        return None


def _flag_announce(flag: Flag) -> None:
    """Audit a new flag and publish it as `usage.anomaly` (webhooks and emails listen), in its transaction."""
    described = flag_describe(flag)
    application = flag.application
    audit_record(
        action=AUDIT_ACTION,
        actor_label="anomaly detection",
        organisation=flag.organisation,
        target=flag,
        data=described,
    )
    if application is not None:  # a client address belongs to no organisation: staff see it in the admin
        events.publish(
            event_type=EVENT_TYPE,
            organisation_id=application.organisation_id,
            data={"flag": described, "application": {"id": application.pk, "name": application.name}},
        )


@transaction.atomic
def anomalies_detect(*, now: datetime) -> list[Flag]:
    """Apply the rules to the current and the previous UTC hour (late logs of an hour arrive after it ends);
    record one flag per subject and hour; returns the new flags.

    Findings are inserted in one order (hour, subject) in every run, so two concurrent runs wait for each
    other's rows instead of deadlocking."""
    current = hour_floor(now)
    findings = findings_for_hour(hour=current - timedelta(hours=1)) + findings_for_hour(hour=current)
    seen = flags_seen(subjects={f.subject for f in findings}, hours={f.hour for f in findings})
    fresh = sorted((f for f in findings if (f.subject, f.hour) not in seen), key=lambda f: (f.hour, f.subject))
    keys = ApiKey.objects.select_related("application__organisation").in_bulk(
        [f.key_id for f in fresh if f.key_id is not None]
    )
    clients = OAuthClient.objects.select_related("application__organisation").in_bulk(
        [f.client_id for f in fresh if f.client_id is not None]
    )
    flags = []
    for finding in fresh:
        key = keys.get(finding.key_id) if finding.key_id is not None else None
        client = clients.get(finding.client_id) if finding.client_id is not None else None
        if (finding.key_id is not None and key is None) or (finding.client_id is not None and client is None):
            continue  # the key or client (and its application) was deleted; its rollups outlive it
        if (flag := _flag_insert(finding, key, client)) is not None:
            flags.append(flag)
    # Announced only once every insert is done: the audit chain's head lock is taken after the flag rows', in
    # every run, so two runs never wait for each other in a cycle.
    for flag in flags:
        _flag_announce(flag)
    return flags
