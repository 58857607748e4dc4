"""Quota enforcement from collected usage: block a subscription at every gateway once its quota is used up.

Gateways count quotas themselves too, but per gateway; this is the fleet-wide count. It lags traffic by the
collection delay, so usage can overshoot a quota by about (request rate x delay): see docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db.models import Q

from analytics.models import QuotaUsage
from analytics.selectors import period_ends, usage_current
from portal.models import Subscription
from portal.services.applications import subscription_block, subscription_unblock

REASON_DAY = "quota-day"
REASON_MONTH = "quota-month"
QUOTA_REASONS = (REASON_DAY, REASON_MONTH)


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


def quota_evaluate(*, subscription_ids: Sequence[int], now: datetime) -> list[int]:
    """Block the given subscriptions whose plan quota is used up; returns the ids newly blocked."""
    subs = list(
        Subscription.objects.filter(pk__in=subscription_ids)
        .filter(Q(plan__quota_per_day__isnull=False) | Q(plan__quota_per_month__isnull=False))
        .values_list("id", "plan__quota_per_day", "plan__quota_per_month", "blocked_until")
    )
    if not subs:
        return []
    usage = usage_current(subscription_ids=[s[0] for s in subs], now=now)
    blocked = []
    for sid, quota_day, quota_month, blocked_until in subs:
        verdict = exhausted_until(
            used_day=usage.get((sid, QuotaUsage.Period.DAY), 0),
            used_month=usage.get((sid, QuotaUsage.Period.MONTH), 0),
            quota_day=quota_day,
            quota_month=quota_month,
            now=now,
        )
        if verdict is not None and (blocked_until is None or blocked_until < verdict[0]):
            subscription_block(subscription_id=sid, until=verdict[0], reason=verdict[1])
            blocked.append(sid)
    return blocked


def quota_release(*, now: datetime) -> list[int]:
    """Lift quota blocks whose period is over, or whose quota is no longer used up (plan raised); returns ids."""
    subs = list(
        Subscription.objects.filter(blocked_reason__in=QUOTA_REASONS, blocked_until__isnull=False).values_list(
            "id", "plan__quota_per_day", "plan__quota_per_month", "blocked_until"
        )
    )
    usage = usage_current(subscription_ids=[s[0] for s in subs], now=now)
    lifted = []
    for sid, quota_day, quota_month, blocked_until in subs:
        still = (
            blocked_until is not None
            and blocked_until > now
            and exhausted_until(
                used_day=usage.get((sid, QuotaUsage.Period.DAY), 0),
                used_month=usage.get((sid, QuotaUsage.Period.MONTH), 0),
                quota_day=quota_day,
                quota_month=quota_month,
                now=now,
            )
        )
        if not still and subscription_unblock(subscription_id=sid, reasons=QUOTA_REASONS) is not None:
            lifted.append(sid)
    return lifted
