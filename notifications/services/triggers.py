"""What decides an email: quota thresholds crossed, keys close to expiry, key and subscription events."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Case, F, IntegerField, When

from analytics.models import QuotaUsage
from analytics.selectors import period_ends, period_starts
from analytics.selectors.shared_quota import organisation_usage
from certificates.models import ClientCertificate
from foundation.models import AuditEvent
from keys.models import ApiKey
from notifications.models import Kind
from notifications.selectors import recipients
from notifications.services.outbox import Draft, notifications_record
from portal.models import Plan, Subscription

QUOTA_THRESHOLDS = (80, 100)
# Warnings before a key expires, widest first; "1d" inside the 1-day window supersedes "7d".
EXPIRY_WARNINGS = (("7d", timedelta(days=7)), ("1d", timedelta(days=1)))
KEY_EVENTS = {"key.revoked": "revoked", "key.rotated": "rotated"}
# Warnings before a client certificate expires (docs/mtls.md), widest first: a new certificate is issued and
# registered by hand, so the first warning comes a month ahead; a later threshold supersedes an earlier one.
CERTIFICATE_WARNINGS = (("30d", timedelta(days=30)), ("7d", timedelta(days=7)), ("1d", timedelta(days=1)))
DECISIONS = {"approved", "rejected", "plan_change_approved", "plan_change_rejected"}


def _drafts(
    *,
    kind: str,
    organisation_id: int,
    subject: str,
    occurrences: list[str],
    context: dict[str, Any],
    people: dict[int, list[Any]] | None = None,
    **who: Any,
) -> list[Draft]:
    """One draft per recipient and occurrence; all but the last occurrence are recorded as superseded.

    `people` caches recipients per organisation across one check, so many subscriptions cost one query each org."""
    if people is None:
        people = {}
    if organisation_id not in people:
        people[organisation_id] = recipients(organisation_id=organisation_id, kind=kind, **who)
    return [
        Draft(kind, organisation_id, subject, occurrence, user.pk, context, skipped=n < len(occurrences) - 1)
        for user in people[organisation_id]
        for n, occurrence in enumerate(occurrences)
    ]


@transaction.atomic
def quota_thresholds_evaluate(*, now: datetime) -> int:
    """Record an email per crossed quota threshold, once per subscription, period and threshold; returns new."""
    today, month = period_starts(now)
    day_end, month_end = period_ends(now)
    limit = Case(
        When(period=QuotaUsage.Period.DAY, then=F("subscription__plan__quota_per_day")),
        default=F("subscription__plan__quota_per_month"),
        output_field=IntegerField(),
    )
    current = (
        QuotaUsage.objects.filter(start__in=[today, month])
        .exclude(subscription__plan__quota_scope=Plan.QuotaScope.ORGANISATION)  # one counter: _shared_quota_drafts
        .annotate(limit=limit)
        .filter(limit__gt=0, used__gte=F("limit") * min(QUOTA_THRESHOLDS) / 100)
        .select_related("subscription__api", "subscription__plan", "subscription__application")
    )
    drafts: list[Draft] = []
    people: dict[int, list[Any]] = {}
    for usage in current:
        if usage.start != (today if usage.period == QuotaUsage.Period.DAY else month):
            continue
        sub = usage.subscription
        crossed = [t for t in QUOTA_THRESHOLDS if usage.used * 100 >= t * usage.limit]  # type: ignore[attr-defined]
        is_day = usage.period == QuotaUsage.Period.DAY
        period_key = usage.start.isoformat() if is_day else usage.start.strftime("%Y-%m")
        context = {
            "threshold": crossed[-1],
            "period": "daily" if is_day else "monthly",
            "used": usage.used,
            "limit": usage.limit,  # type: ignore[attr-defined]
            "resets_at": (day_end if is_day else month_end).isoformat(),
            "api": sub.api.name,
            "plan": sub.plan.name,
            "application": sub.application.name,
            "application_id": sub.application_id,
            "api_slug": sub.api.slug,
        }
        drafts += _drafts(
            kind=Kind.QUOTA,
            organisation_id=sub.application.organisation_id,
            subject=f"subscription:{sub.pk}",
            occurrences=[f"{period_key}:{t}" for t in crossed],
            context=context,
            people=people,
        )
    drafts += _shared_quota_drafts(now=now, people=people)
    return len(notifications_record(drafts))


def _shared_quota_drafts(*, now: datetime, people: dict[int, list[Any]]) -> list[Draft]:
    """Thresholds of quotas an organisation shares (issue #15), on the shared counter: one email per organisation
    and plan, not one per application. Three queries whatever the number of organisations."""
    today, month = period_starts(now)
    day_end, month_end = period_ends(now)
    groups = set(
        QuotaUsage.objects.filter(
            start__in=[today, month], used__gt=0, subscription__plan__quota_scope=Plan.QuotaScope.ORGANISATION
        )
        .values_list("subscription__application__organisation_id", "subscription__plan_id")
        .distinct()
    )
    if not groups:
        return []
    plans = Plan.objects.select_related("api").in_bulk({plan_id for _, plan_id in groups})
    drafts: list[Draft] = []
    for (organisation_id, plan_id, period), used in sorted(
        organisation_usage(groups=groups, today=today, month=month).items()
    ):
        plan, is_day = plans[plan_id], period == QuotaUsage.Period.DAY
        limit = plan.quota_per_day if is_day else plan.quota_per_month
        crossed = [t for t in QUOTA_THRESHOLDS if limit and used * 100 >= t * limit]
        if not crossed:
            continue
        period_key = today.isoformat() if is_day else month.strftime("%Y-%m")
        context = {
            "threshold": crossed[-1],
            "period": "daily" if is_day else "monthly",
            "used": used,
            "limit": limit,
            "resets_at": (day_end if is_day else month_end).isoformat(),
            "api": plan.api.name,
            "plan": plan.name,
            "shared": True,
            "application": "Your organisation's applications",
            "organisation_id": organisation_id,
            "api_slug": plan.api.slug,
        }
        drafts += _drafts(
            kind=Kind.QUOTA,
            organisation_id=organisation_id,
            subject=f"organisation-quota:{organisation_id}:{plan_id}",
            occurrences=[f"{period_key}:{t}" for t in crossed],
            context=context,
            people=people,
        )
    return drafts


@transaction.atomic
def key_expiry_evaluate(*, now: datetime) -> int:
    """Record the 7-day and 1-day warnings for live keys that expire soon (not old keys in a rotation grace)."""
    soon = (
        ApiKey.objects.usable_at(now)
        .filter(expires_at__lte=now + EXPIRY_WARNINGS[0][1], replaced_by__isnull=True)
        .select_related("application")
    )
    drafts: list[Draft] = []
    people: dict[int, list[Any]] = {}
    for key in soon:
        expires_at = key.expires_at or now  # never None: the filter above asks for a date; this narrows the type
        due = [label for label, ahead in EXPIRY_WARNINGS if expires_at <= now + ahead]
        drafts += _drafts(
            kind=Kind.KEY_EXPIRY,
            organisation_id=key.application.organisation_id,
            subject=f"key:{key.pk}",
            # The expiry is part of the occurrence: an extended key is warned again before its new date.
            occurrences=[f"{label}:{expires_at.isoformat()}" for label in due],
            context={
                "key": key.name,
                "prefix": key.prefix,
                "expires_at": expires_at.isoformat(),
                "warning": due[-1],
                "application": key.application.name,
                "application_id": key.application_id,
            },
            people=people,
        )
    return len(notifications_record(drafts))


@transaction.atomic
def certificate_expiry_evaluate(*, now: datetime) -> int:
    """Record the 30-, 7- and 1-day warnings for unrevoked client certificates that expire soon, once per threshold."""
    soon = (
        ClientCertificate.objects.active()
        .filter(not_after__gt=now, not_after__lte=now + CERTIFICATE_WARNINGS[0][1])
        .select_related("application")
    )
    drafts: list[Draft] = []
    people: dict[int, list[Any]] = {}
    for cert in soon:
        due = [label for label, ahead in CERTIFICATE_WARNINGS if cert.not_after <= now + ahead]
        drafts += _drafts(
            kind=Kind.CERTIFICATE_EXPIRY,
            organisation_id=cert.application.organisation_id,
            subject=f"certificate:{cert.pk}",
            occurrences=[f"{label}:{cert.not_after.isoformat()}" for label in due],
            context={
                "certificate": cert.name,
                "fingerprint": cert.fingerprint[:16],
                "subject": cert.subject,
                "expires_at": cert.not_after.isoformat(),
                "warning": due[-1],
                "application": cert.application.name,
                "application_id": cert.application_id,
            },
            people=people,
        )
    return len(notifications_record(drafts))


def _key_actor_id(key_id: int, action: str) -> int | None:
    """Who revoked or rotated the key: the audit row written just before the event, in the same transaction."""
    entry = AuditEvent.objects.filter(action=action, target_id=str(key_id)).order_by("-pk").first()
    return entry.actor_id if entry is not None else None


def event_record(*, event_type: str, organisation_id: int, data: dict[str, Any]) -> None:
    """Listener for domain events, run inside the change's transaction: the email commits with the change."""
    if event_type in KEY_EVENTS:
        key = data["key"]
        drafts = _drafts(
            kind=Kind.KEY_CHANGED,
            organisation_id=organisation_id,
            subject=f"key:{key['id']}",
            occurrences=[KEY_EVENTS[event_type]],
            context={"key": key["name"], "prefix": key["prefix"], "change": KEY_EVENTS[event_type]},
            exclude_user_id=_key_actor_id(key["id"], event_type),
        )
        notifications_record(drafts)
    elif event_type == "subscription.changed" and data.get("change") in DECISIONS:
        sub = data["subscription"]
        subscription = Subscription.objects.select_related("api", "plan", "application").get(pk=sub["id"])
        drafts = _drafts(
            kind=Kind.SUBSCRIPTION,
            organisation_id=organisation_id,
            subject=f"subscription:{sub['id']}",
            # Each decision is its own occurrence (an audit row id is unique per decision).
            occurrences=[f"{data['change']}:{_decision_id(sub['id'], data['change'])}"],
            context={
                "change": data["change"],
                "api": subscription.api.name,
                "plan": subscription.plan.name,
                "application": subscription.application.name,
                "application_id": subscription.application_id,
            },
        )
        notifications_record(drafts)
    elif event_type == "usage.anomaly":
        anomaly_record(organisation_id=organisation_id, data=data)


def _credential(flag: dict[str, Any]) -> dict[str, str]:
    """What the anomaly email names: the key, or the OAuth client whose access tokens were used."""
    client = flag.get("oauth_client")
    if client:
        return {"credential": "OAuth client", "key": client["name"], "prefix": client["client_id"][:20]}
    key = flag["key"]
    return {"credential": "key", "key": key["name"] if key else "", "prefix": key["prefix"] if key else ""}


def anomaly_record(*, organisation_id: int, data: dict[str, Any]) -> None:
    """An anomaly flag (`usage.anomaly`): one email per flag and recipient; the flag is unique per key and hour."""
    flag = data["flag"]
    drafts = _drafts(
        kind=Kind.ANOMALY,
        organisation_id=organisation_id,
        subject=f"anomaly:{flag['id']}",
        occurrences=["flagged"],
        context={
            "rule": flag["rule"],
            "hour": flag["hour"],
            **_credential(flag),
            "details": flag["details"],
            # Rates as people read them: 0.3 -> 30, 0.0012 -> 0.12 (percent).
            "rate_percent": round(flag["details"].get("rate", 0) * 100, 2),
            "baseline_percent": round(flag["details"].get("baseline_rate", 0) * 100, 2),
            "application": data["application"]["name"],
            "application_id": data["application"]["id"],
        },
    )
    notifications_record(drafts)


def _decision_id(subscription_id: int, change: str) -> int:
    entry = (
        AuditEvent.objects.filter(action=f"subscription.{change}", target_id=str(subscription_id))
        .order_by("-pk")
        .first()
    )
    return entry.pk if entry is not None else 0
