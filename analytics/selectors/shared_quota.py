"""Quota use of plans whose quota is the organisation's (issue #15): one counter per (organisation, plan).

`QuotaUsage` stays per subscription (ingest does not change); a shared counter is the sum over the organisation's
subscriptions on the plan, whatever their status: a cancelled application's requests this period still used the
organisation's quota. A subscription counts under the plan it is on now. Callers pass the current day and month
(`analytics.selectors.period_starts`), so this module needs nothing of the package that imports it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

from django.db.models import Q, Sum

from analytics.models import QuotaUsage

Group = tuple[int, int]  # (organisation id, plan id)


@dataclass(frozen=True)
class ApplicationShare:
    """One application's part of its organisation's shared quota in the current day and month."""

    application_id: int
    name: str
    day_used: int
    month_used: int


def sum_day(shares: list[ApplicationShare]) -> int:
    return sum(share.day_used for share in shares)


def sum_month(shares: list[ApplicationShare]) -> int:
    return sum(share.month_used for share in shares)


def _rows(groups: Collection[Group], today: date, month: date) -> list[tuple[int, int, int, str, str, int]]:
    """(organisation, plan, application, application name, period, used) of the groups' subscriptions: one query."""
    if not groups:
        return []
    wanted = set(groups)
    match = Q()
    for organisation_id, plan_id in wanted:
        match |= Q(subscription__application__organisation_id=organisation_id, subscription__plan_id=plan_id)
    rows = (
        QuotaUsage.objects.filter(match)
        .filter(Q(period=QuotaUsage.Period.DAY, start=today) | Q(period=QuotaUsage.Period.MONTH, start=month))
        .values_list(
            "subscription__application__organisation_id",
            "subscription__plan_id",
            "subscription__application_id",
            "subscription__application__name",
            "period",
        )
        .annotate(total=Sum("used"))
        .order_by()
    )
    return list(rows)


def organisation_usage(*, groups: Collection[Group], today: date, month: date) -> dict[tuple[int, int, str], int]:
    """Admitted requests per (organisation, plan, period) in the current UTC day and month."""
    totals: dict[tuple[int, int, str], int] = defaultdict(int)
    for organisation_id, plan_id, _, _, period, used in _rows(groups, today, month):
        totals[(organisation_id, plan_id, period)] += used
    return dict(totals)


def organisation_shares(*, groups: Collection[Group], today: date, month: date) -> dict[Group, list[ApplicationShare]]:
    """Who used each group's shared quota: its applications, busiest this month first (one query)."""
    used: dict[Group, dict[tuple[int, str], dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for organisation_id, plan_id, application_id, name, period, total in _rows(groups, today, month):
        used[(organisation_id, plan_id)][(application_id, name)][period] = total
    return {
        group: sorted(
            (
                ApplicationShare(
                    application_id=app_id,
                    name=name,
                    day_used=periods.get(QuotaUsage.Period.DAY, 0),
                    month_used=periods.get(QuotaUsage.Period.MONTH, 0),
                )
                for (app_id, name), periods in apps.items()
            ),
            key=lambda share: (-share.month_used, -share.day_used, share.application_id),
        )
        for group, apps in used.items()
    }
