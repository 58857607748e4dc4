"""Reads for the staff usage overview: top consumers, traffic per API, plan and gateway, and quota pressure.

Everything but the per-gateway table comes from the hour or day rollups (a few thousand rows a day, not the
events); rollups have no gateway, so that table reads raw events, over at most GATEWAY_WINDOW.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Avg, Count, F, Q, QuerySet, Sum

from analytics.models import LATENCY_FIELDS, QuotaUsage, RequestEvent
from analytics.selectors import floor_to, period_starts, rollups_in, usage_percentiles
from gateway_sync.models import Gateway
from portal.models import Api, Application, Subscription

TOP = 10
QUOTA_NEAR = 0.8  # a subscription at 80% of a quota is "near" it
QUOTA_ROWS = 50
GATEWAY_WINDOW = timedelta(hours=24)  # raw events are many: the per-gateway table looks at the last day at most
_COUNTERS = {"requests": Sum("requests"), "errors": Sum("errors"), "denied": Sum("denied")}
_LATENCY = {name: Sum(name) for name in LATENCY_FIELDS}
_SUMMED = (*_COUNTERS, *LATENCY_FIELDS)


@dataclass
class Traffic:
    """Requests, 5xx errors, denials and latency percentiles of one row of a staff table."""

    label: str
    requests: int = 0
    errors: int = 0
    denied: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * len(LATENCY_FIELDS))
    detail: str = ""

    @property
    def error_rate(self) -> float:
        return 100.0 * self.errors / self.requests if self.requests else 0.0

    @property
    def percentiles(self) -> dict[str, float | None]:
        return usage_percentiles(self.histogram)

    def add(self, row: Mapping[str, Any]) -> None:
        self.requests += int(row["requests"] or 0)
        self.errors += int(row["errors"] or 0)
        self.denied += int(row["denied"] or 0)
        for i, name in enumerate(LATENCY_FIELDS):
            self.histogram[i] += int(row.get(name) or 0)


def _application_labels(ids: set[int]) -> dict[int, str]:
    rows = Application.objects.filter(pk__in=ids).select_related("organisation").only("name", "organisation__name")
    return {a.pk: f"{a.name} ({a.organisation.name})" for a in rows}


@contextmanager
def heavy_reads() -> Iterator[None]:
    """For the overview's reads of hundreds of thousands of rollups or events, in this transaction only: no JIT
    (PostgreSQL spent about 250 ms compiling each such query, longer than running it) and room to hash a few
    thousand groups in memory (the default 4 MB made it sort them on disk)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
                cursor.execute("SET LOCAL work_mem = '64MB'")
        yield


def _whole_days(granularity: str, start: datetime, end: datetime) -> list[tuple[str, datetime, datetime]]:
    """The rollups of [start, end) as (granularity, start, end) parts: hour rollups for the partial days at its ends,
    day rollups (which ingest counts from the same events) for the whole UTC days between, so 7 days read 24 hours
    of hour rollups, not 168."""
    first, last = floor_to(start + timedelta(days=1) - timedelta.resolution, "day"), floor_to(end, "day")
    if granularity != "hour" or first >= last:
        return [(granularity, start, end)]
    parts = [("hour", start, first), ("day", first, last), ("hour", last, end)]
    return [part for part in parts if part[1] < part[2]]


def rollup_groups(*, granularity: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Counters and latency histograms per (application, API) in [start, end), from which the top consumers, the
    per-API and the per-plan tables are all summed (they used to be four scans). One range scan per part of
    _whole_days (an OR of them made PostgreSQL scan the whole table)."""
    sums: dict[tuple[int, int], dict[str, Any]] = {}
    for part, part_start, part_end in _whole_days(granularity, start, end):
        rows = (
            rollups_in(granularity=part, start=part_start, end=part_end)
            .values("application_id", "api_id")
            .annotate(**_COUNTERS, **_LATENCY)
        )
        summed: list[dict[str, Any]] = [dict(row) for row in rows]
        for row in summed:
            found = sums.setdefault((row["application_id"], row["api_id"]), dict.fromkeys(_SUMMED, 0))
            for name in _SUMMED:
                found[name] += int(row[name] or 0)
    return [{"application_id": app, "api_id": api, **sums[app, api]} for app, api in sorted(sums)]


def top_consumers(*, groups: list[dict[str, Any]], by: str) -> list[Traffic]:
    """The TOP applications by requests or by errors (those with any), with their organisation: one query."""
    per_application: dict[int, dict[str, int]] = {}
    for row in groups:
        if row["application_id"]:
            sums = per_application.setdefault(row["application_id"], dict.fromkeys(_COUNTERS, 0))
            for name in _COUNTERS:
                sums[name] += int(row[name] or 0)
    ranked = sorted(
        ((pk, sums) for pk, sums in per_application.items() if by != "errors" or sums["errors"] > 0),
        key=lambda item: (-item[1][by], item[0]),
    )[:TOP]
    labels = _application_labels({pk for pk, _ in ranked})
    answer = []
    for pk, sums in ranked:
        traffic = Traffic(labels.get(pk, f"Deleted application #{pk}"))
        traffic.add(sums)
        answer.append(traffic)
    return answer


def traffic_per_api(*, groups: list[dict[str, Any]]) -> list[Traffic]:
    """Each API's traffic, error rate and latency, busiest first: one query (the APIs' names)."""
    names = dict(Api.objects.values_list("pk", "name"))
    answer: dict[int, Traffic] = {}
    for row in groups:
        api = row["api_id"]
        if api not in answer:
            answer[api] = Traffic(names.get(api, "No API (unrouted)" if not api else "Deleted API"))
        answer[api].add(row)
    by_id = [answer[api] for api in sorted(answer)]  # ties in requests stay in API order
    return sorted(by_id, key=lambda t: -t.requests)


def traffic_per_plan(*, groups: list[dict[str, Any]]) -> list[Traffic]:
    """Each plan's traffic: rollups have no plan, so (application, API) is mapped to the plan of its subscription
    now (a plan change moves past traffic with it). One query."""
    # Names only: a whole subscription with its plan and API would decode each API's OpenAPI document per row.
    subscriptions = Subscription.objects.exclude(status=Subscription.Status.CANCELLED).values_list(
        "application_id", "api_id", "plan_id", "plan__name", "plan__api__name"
    )
    plans = {(app, api): (plan, f"{api_name} · {name}") for app, api, plan, name, api_name in subscriptions}
    answer: dict[int, Traffic] = {}
    for row in groups:
        if not row["application_id"]:
            continue
        pk, label = plans.get((row["application_id"], row["api_id"]), (0, "No current subscription"))
        if pk not in answer:
            answer[pk] = Traffic(label)
        answer[pk].add(row)
    return sorted(answer.values(), key=lambda t: -t.requests)


def traffic_per_gateway(*, start: datetime, end: datetime) -> list[Traffic]:
    """Each gateway's requests, 5xx errors, denials and mean latency over the raw events of at most the last
    GATEWAY_WINDOW of [start, end): one query on the time-partitioned events."""
    start = max(start, end - GATEWAY_WINDOW)
    rows = (
        RequestEvent.objects.filter(time__gte=start, time__lt=end)
        .values("gateway_id")
        .annotate(
            requests=Count("status"),
            errors=Count("status", filter=Q(status__gte=500)),
            denied=Count("status", filter=Q(limit_outcome__in=("rate", "quota", "blocked"))),
            latency=Avg("latency_ms"),
        )
        .order_by("gateway_id")
    )
    names = dict(Gateway.objects.values_list("pk", "name"))
    answer = []
    for row in rows:
        traffic = Traffic(names.get(row["gateway_id"], f"Gateway #{row['gateway_id']}"))
        traffic.add(row)
        traffic.detail = f"{row['latency']:.1f} ms" if row["latency"] is not None else "—"
        answer.append(traffic)
    return sorted(answer, key=lambda t: -t.requests)


@dataclass
class QuotaPressure:
    """A subscription near or over one of its quotas in the current UTC day or month."""

    subscription: Subscription
    period: str
    used: int
    limit: int

    @property
    def percent(self) -> int:
        return self.used * 100 // self.limit

    @property
    def over(self) -> bool:
        return self.used >= self.limit


def _pressure(period: str, start: Any, limit_field: str) -> QuerySet[QuotaUsage]:
    limit = F(f"subscription__plan__{limit_field}")
    return (
        QuotaUsage.objects.filter(period=period, start=start, **{f"subscription__plan__{limit_field}__gt": 0})
        .filter(used__gte=limit * QUOTA_NEAR)
        .select_related("subscription__application__organisation", "subscription__api", "subscription__plan")
        .order_by("-used")[:QUOTA_ROWS]
    )


def quota_pressure(*, now: datetime) -> list[QuotaPressure]:
    """Subscriptions at QUOTA_NEAR or more of their plan's daily or monthly quota right now, fullest first."""
    today, month = period_starts(now)
    answer = [
        QuotaPressure(row.subscription, label, row.used, getattr(row.subscription.plan, limit_field))
        for period, start, limit_field, label in (
            (QuotaUsage.Period.DAY, today, "quota_per_day", "Today"),
            (QuotaUsage.Period.MONTH, month, "quota_per_month", "This month"),
        )
        for row in _pressure(period, start, limit_field)
    ]
    return sorted(answer, key=lambda p: -p.used / p.limit)[:QUOTA_ROWS]
