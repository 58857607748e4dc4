"""Quota enforcement from collected usage: block a subscription at every gateway once its quota is used up.

Gateways count quotas themselves too, but per gateway; this is the fleet-wide count. It lags traffic by the
collection delay, so usage can overshoot a quota by about (request rate x delay): see docs/architecture.md.
A plan whose quota is the organisation's (issue #15) is checked per (organisation, plan): the sum over the
organisation's subscriptions on it, and all of them are blocked and released together.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import Q

from analytics.models import QuotaUsage
from analytics.selectors import period_ends, period_starts, usage_current
from analytics.selectors.shared_quota import Group, organisation_usage
from portal.models import Plan, Subscription
from portal.services.applications import subscription_block, subscription_unblock

REASON_DAY = "quota-day"
REASON_MONTH = "quota-month"
QUOTA_REASONS = (REASON_DAY, REASON_MONTH)
SHARED = Plan.QuotaScope.ORGANISATION
# what each check reads of a subscription
_FIELDS = (
    "id",
    "application__organisation_id",
    "plan_id",
    "plan__quota_scope",
    "plan__quota_per_day",
    "plan__quota_per_month",
    "blocked_until",
)


def exhausted_until(
    *, used_day: int, used_month: int, quota_day: int | None, quota_month: int | None, now: datetime
) -> tuple[datetime, str] | None:
    """Until when and why traffic must be refused, or None while quota is left. The month wins: it ends later."""
    day_end, month_end = period_ends(now)
    if quota_month is not None and used_month >= quota_month:
        return month_end, REASON_MONTH
    if quota_day is not None and used_day >= quota_day:
        return day_end, REASON_DAY
    return None


def _usage(subs: list[tuple[Any, ...]], now: datetime) -> dict[tuple[int, str], int]:
    """Used quota per (subscription, period): its own counter, or its organisation's for a shared plan."""
    own = [s[0] for s in subs if s[3] != SHARED]
    usage = usage_current(subscription_ids=own, now=now) if own else {}
    groups: set[Group] = {(s[1], s[2]) for s in subs if s[3] == SHARED}
    if groups:
        today, month = period_starts(now)
        shared = organisation_usage(groups=groups, today=today, month=month)
        for sid, organisation_id, plan_id, scope, *_ in subs:
            if scope == SHARED:
                for period in QuotaUsage.Period.values:
                    usage[(sid, period)] = shared.get((organisation_id, plan_id, period), 0)
    return usage


def _verdict(
    usage: dict[tuple[int, str], int], sid: int, quota_day: int | None, quota_month: int | None, now: datetime
) -> tuple[datetime, str] | None:
    return exhausted_until(
        used_day=usage.get((sid, QuotaUsage.Period.DAY), 0),
        used_month=usage.get((sid, QuotaUsage.Period.MONTH), 0),
        quota_day=quota_day,
        quota_month=quota_month,
        now=now,
    )


def quota_evaluate(*, subscription_ids: Sequence[int], now: datetime) -> list[int]:
    """Block the given subscriptions whose plan quota is used up (with a shared quota, every live subscription of
    the organisation on the plan); returns the ids newly blocked."""
    subs = list(
        Subscription.objects.filter(pk__in=subscription_ids)
        .filter(Q(plan__quota_per_day__isnull=False) | Q(plan__quota_per_month__isnull=False))
        .values_list(*_FIELDS)
    )
    if not subs:
        return []
    usage = _usage(subs, now)
    blocked = []
    exhausted: dict[Group, tuple[datetime, str]] = {}
    for sid, organisation_id, plan_id, scope, quota_day, quota_month, blocked_until in subs:
        verdict = _verdict(usage, sid, quota_day, quota_month, now)
        if verdict is None:
            continue
        if scope == SHARED:
            exhausted[(organisation_id, plan_id)] = verdict
        elif blocked_until is None or blocked_until < verdict[0]:
            subscription_block(subscription_id=sid, until=verdict[0], reason=verdict[1])
            blocked.append(sid)
    if exhausted:
        groups = Q()
        for organisation_id, plan_id in exhausted:
            groups |= Q(application__organisation_id=organisation_id, plan_id=plan_id)
        members = Subscription.objects.live().filter(groups).order_by("pk")
        for sid, organisation_id, plan_id, blocked_until in members.values_list(
            "id", "application__organisation_id", "plan_id", "blocked_until"
        ):
            until, reason = exhausted[(organisation_id, plan_id)]
            if blocked_until is None or blocked_until < until:
                subscription_block(subscription_id=sid, until=until, reason=reason)
                blocked.append(sid)
    return blocked


def quota_release(*, now: datetime) -> list[int]:
    """Lift quota blocks whose period is over, or whose quota is no longer used up (plan raised); returns ids.
    Subscriptions sharing an organisation's quota are judged on the shared counter, so they are lifted together."""
    subs = list(
        Subscription.objects.filter(blocked_reason__in=QUOTA_REASONS, blocked_until__isnull=False).values_list(*_FIELDS)
    )
    usage = _usage(subs, now)
    lifted = []
    for sid, _, _, _, quota_day, quota_month, blocked_until in subs:
        still = blocked_until is not None and blocked_until > now and _verdict(usage, sid, quota_day, quota_month, now)
        if not still and subscription_unblock(subscription_id=sid, reasons=QUOTA_REASONS) is not None:
            lifted.append(sid)
    return lifted
