"""Reads of usage: time series and totals from the rollups, latency percentiles, quota state of subscriptions,
and the request log (raw events by keyset).

Callers scope first (portal.selectors.application_get), so everything here takes an application already
proven to belong to the requester; the quota counters of the current periods are also read by the quota service.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.core import signing
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from analytics.models import LATENCY_BOUNDS_MS, LATENCY_FIELDS, QuotaUsage, RequestEvent, UsageRollup
from analytics.selectors.shared_quota import ApplicationShare, organisation_shares, sum_day, sum_month
from foundation.errors import NotFound, ValidationFailed
from portal.models import Application, Subscription

PERCENTILES = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))
# The longest range each granularity may be asked for: at most 1,440 points per series.
MAX_RANGE: dict[str, timedelta] = {
    UsageRollup.Granularity.MINUTE: timedelta(days=1),
    UsageRollup.Granularity.HOUR: timedelta(days=60),
    UsageRollup.Granularity.DAY: timedelta(days=1440),
}
STEP: dict[str, timedelta] = {
    UsageRollup.Granularity.MINUTE: timedelta(minutes=1),
    UsageRollup.Granularity.HOUR: timedelta(hours=1),
    UsageRollup.Granularity.DAY: timedelta(days=1),
}
# The portal's period picker: a name, its granularity and how far back it looks.
PERIODS: dict[str, tuple[str, timedelta, str]] = {
    "hour": (UsageRollup.Granularity.MINUTE, timedelta(hours=1), "Last hour, by minute"),
    "day": (UsageRollup.Granularity.HOUR, timedelta(days=1), "Last 24 hours, by hour"),
    "month": (UsageRollup.Granularity.DAY, timedelta(days=30), "Last 30 days, by day"),
}
_SUMMED = ("requests", "errors", "denied", "bytes_in", "bytes_out", "latency_sum_ms", *LATENCY_FIELDS)


def floor_to(moment: datetime, granularity: str) -> datetime:
    """The start of the bucket holding `moment` (UTC)."""
    moment = moment.astimezone(UTC)
    if granularity == UsageRollup.Granularity.MINUTE:
        return moment.replace(second=0, microsecond=0)
    if granularity == UsageRollup.Granularity.HOUR:
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def usage_window(*, period: str, now: datetime) -> tuple[str, datetime, datetime]:
    """Granularity and half-open range [start, end) of a picker period, ending with the bucket holding `now`."""
    granularity, span, _ = PERIODS[period]
    end = floor_to(now, granularity) + STEP[granularity]
    return granularity, end - span, end


def usage_percentiles(histogram: Sequence[int]) -> dict[str, float | None]:
    """p50/p95/p99 in milliseconds from a latency histogram, interpolated linearly inside the bucket.

    The answer is within the bucket holding the true percentile (bounds about 1.6x apart); past the last bound
    the bound itself is reported, as "at least".
    """
    total = sum(histogram)
    answer: dict[str, float | None] = {}
    for name, q in PERCENTILES:
        if total == 0:
            answer[name] = None
            continue
        rank, below = q * total, 0
        for index, count in enumerate(histogram):
            if count and below + count >= rank:
                if index >= len(LATENCY_BOUNDS_MS):
                    value = float(LATENCY_BOUNDS_MS[-1])
                else:
                    lower = float(LATENCY_BOUNDS_MS[index - 1]) if index else 0.0
                    value = lower + (LATENCY_BOUNDS_MS[index] - lower) * (rank - below) / count
                answer[name] = round(value, 3)
                break
            below += count
    return answer


@dataclass
class UsagePoint:
    """One bucket of a usage series (or the totals, with `time` None)."""

    time: datetime | None
    requests: int
    errors: int
    denied: int
    bytes_in: int
    bytes_out: int
    latency_avg_ms: float | None
    percentiles: dict[str, float | None]


def _point(time: datetime | None, sums: dict[str, Any]) -> UsagePoint:
    histogram = [int(sums[name] or 0) for name in LATENCY_FIELDS]
    measured = sum(histogram)
    return UsagePoint(
        time=time,
        requests=int(sums["requests"] or 0),
        errors=int(sums["errors"] or 0),
        denied=int(sums["denied"] or 0),
        bytes_in=int(sums["bytes_in"] or 0),
        bytes_out=int(sums["bytes_out"] or 0),
        latency_avg_ms=round(float(sums["latency_sum_ms"]) / measured, 3) if measured else None,
        percentiles=usage_percentiles(histogram),
    )


@dataclass
class Usage:
    """Usage over a range (an application's, a key's, an organisation's): series, totals, by status class."""

    series: list[UsagePoint]
    totals: UsagePoint
    by_status_class: dict[str, int]


def rollups_in(*, granularity: str, start: datetime, end: datetime, **scope: int) -> QuerySet[UsageRollup]:
    """Rollups of one granularity in [start, end), narrowed by exact ids (application_id=…, key_id=…); the caller
    has proven the requester may see that scope."""
    return UsageRollup.objects.filter(granularity=granularity, bucket__gte=start, bucket__lt=end, **scope)


def usage_of(rows: QuerySet[UsageRollup]) -> Usage:
    """Series, totals and answers by status class of some rollups: two queries."""
    sums = {name: Sum(name) for name in _SUMMED}
    buckets: list[dict[str, Any]] = [dict(row) for row in rows.values("bucket").annotate(**sums).order_by("bucket")]
    totals: dict[str, Any] = {name: sum(row[name] or 0 for row in buckets) for name in _SUMMED}
    classes = rows.values("status_class").annotate(n=Sum("requests")).order_by("status_class")
    return Usage(
        series=[_point(row["bucket"], row) for row in buckets],
        totals=_point(None, totals),
        by_status_class={f"{row['status_class']}xx": int(row["n"]) for row in classes},
    )


def status_classes_of(rows: QuerySet[UsageRollup]) -> dict[datetime, dict[int, int]]:
    """Requests per bucket and status class (1 to 5) of some rollups, as the chart stacks them: one query."""
    counted = rows.values("bucket", "status_class").annotate(n=Sum("requests")).order_by("bucket", "status_class")
    answer: dict[datetime, dict[int, int]] = {}
    for row in counted:
        answer.setdefault(row["bucket"], {})[row["status_class"]] = int(row["n"])
    return answer


def narrowed(api_id: int | None, key_id: int | None, client_id: int | None = None) -> dict[str, int]:
    """The rollup filters for an optional API, key and OAuth client (None: not narrowed by it)."""
    pairs = (("api_id", api_id), ("key_id", key_id), ("client_id", client_id))
    return {name: value for name, value in pairs if value is not None}


def usage_for_application(
    *,
    application: Application,
    granularity: str,
    start: datetime,
    end: datetime,
    api_id: int | None = None,
    key_id: int | None = None,
    client_id: int | None = None,
) -> Usage:
    """Rollups of one application in [start, end), optionally for one API, key or OAuth client: two queries."""
    scope = {"application_id": application.pk, **narrowed(api_id, key_id, client_id)}
    return usage_of(rollups_in(granularity=granularity, start=start, end=end, **scope))


def usage_by_status_class(
    *,
    application: Application,
    granularity: str,
    start: datetime,
    end: datetime,
    key_id: int | None = None,
    client_id: int | None = None,
) -> dict[datetime, dict[int, int]]:
    """Requests per bucket and status class of one application in [start, end), optionally of one key or client."""
    scope = {"application_id": application.pk, **narrowed(None, key_id, client_id)}
    return status_classes_of(rollups_in(granularity=granularity, start=start, end=end, **scope))


@dataclass
class KeyUsage:
    """One key's share of an application's usage over a range, as the per-key table shows it."""

    key_id: int
    name: str
    prefix: str
    status: str
    last_used_at: datetime | None
    requests: int
    errors: int
    denied: int


def usage_by_key(*, application: Application, granularity: str, start: datetime, end: datetime) -> list[KeyUsage]:
    """Requests, errors and denials of each of the application's keys in [start, end), busiest first; keys without
    traffic are listed too (a key that is never used is worth seeing). Two queries."""
    sums = (
        rollups_in(granularity=granularity, start=start, end=end, application_id=application.pk)
        .values("key_id")
        .annotate(requests=Sum("requests"), errors=Sum("errors"), denied=Sum("denied"))
        .order_by("key_id")
    )
    return key_usage_rows(application, {row["key_id"]: dict(row) for row in sums})


def key_usage_rows(application: Application, by_key: dict[int, dict[str, Any]]) -> list[KeyUsage]:
    """Each of the application's keys with its sums (requests, errors, denied) from `by_key`, busiest first: one
    query."""
    keys = application.keys.order_by("-created_at", "-id").values_list("id", "name", "prefix", "status", "last_used_at")
    answer = []
    for pk, name, prefix, status, last_used_at in keys:
        row: dict[str, Any] = by_key.get(pk, {})
        answer.append(
            KeyUsage(
                key_id=pk,
                name=name,
                prefix=prefix,
                status=status,
                last_used_at=last_used_at,
                requests=int(row.get("requests") or 0),
                errors=int(row.get("errors") or 0),
                denied=int(row.get("denied") or 0),
            )
        )
    return sorted(answer, key=lambda k: -k.requests)


def usage_by_client(*, application: Application, granularity: str, start: datetime, end: datetime) -> list[KeyUsage]:
    """usage_by_key for the application's OAuth clients (access-token traffic): key_id is the client's id, prefix
    the first characters of its client id, as the request log shows them."""
    sums = (
        rollups_in(granularity=granularity, start=start, end=end, application_id=application.pk)
        .exclude(client_id=0)
        .values("client_id")
        .annotate(requests=Sum("requests"), errors=Sum("errors"), denied=Sum("denied"))
        .order_by("client_id")
    )
    return client_usage_rows(application, {row["client_id"]: dict(row) for row in sums})


def client_usage_rows(application: Application, by_client: dict[int, dict[str, Any]]) -> list[KeyUsage]:
    """key_usage_rows for the application's OAuth clients: one query."""
    clients = application.oauth_clients.order_by("-created_at", "-id")
    answer = []
    for c in clients.values("id", "name", "client_id", "revoked_at", "last_used_at"):
        row: dict[str, Any] = by_client.get(c["id"], {})
        answer.append(
            KeyUsage(
                key_id=c["id"],
                name=c["name"],
                prefix=c["client_id"][:20],
                status="revoked" if c["revoked_at"] else "active",
                last_used_at=c["last_used_at"],
                requests=int(row.get("requests") or 0),
                errors=int(row.get("errors") or 0),
                denied=int(row.get("denied") or 0),
            )
        )
    return sorted(answer, key=lambda k: -k.requests)


@dataclass
class QuotaMeter:
    """One quota period of a subscription, as a meter shows it."""

    label: str
    used: int
    limit: int
    percent: int
    resets_at: datetime

    @property
    def high(self) -> int:
        """Where a meter turns to a warning: 80% of the quota."""
        return self.limit * 4 // 5


@dataclass
class QuotaState:
    """Where a subscription stands against its plan's quotas right now."""

    subscription: Subscription
    day_limit: int | None
    day_used: int
    day_resets_at: datetime
    month_limit: int | None
    month_used: int
    month_resets_at: datetime
    # the plan's quota is the organisation's (issue #15): the counts above are its, and who used them
    shares: list[ApplicationShare] | None = None

    @property
    def blocked(self) -> bool:
        until = self.subscription.blocked_until
        return until is not None and until > timezone.now()

    @property
    def state_description(self) -> str:
        """E.g. "Blocked until 00:00 UTC — daily quota used up", as the portal and the REST API say it."""
        return self.subscription.state_description_at(timezone.now())

    def day_percent(self) -> int | None:
        return min(100, self.day_used * 100 // self.day_limit) if self.day_limit else None

    def month_percent(self) -> int | None:
        return min(100, self.month_used * 100 // self.month_limit) if self.month_limit else None

    def meters(self) -> list[QuotaMeter]:
        """The day and month quotas the plan has (none when it is unlimited)."""
        meters = []
        if self.day_limit:
            percent = self.day_percent() or 0
            meters.append(QuotaMeter("Today", self.day_used, self.day_limit, percent, self.day_resets_at))
        if self.month_limit:
            percent = self.month_percent() or 0
            meters.append(QuotaMeter("This month", self.month_used, self.month_limit, percent, self.month_resets_at))
        return meters


def period_starts(now: datetime) -> tuple[date, date]:
    """The current UTC day and month (as its first day)."""
    today = now.astimezone(UTC).date()
    return today, today.replace(day=1)


def period_ends(now: datetime) -> tuple[datetime, datetime]:
    """When the current UTC day and month end: the moments quota blocks are lifted."""
    today, month = period_starts(now)
    next_month = (month + timedelta(days=32)).replace(day=1)
    return (
        datetime.combine(today + timedelta(days=1), time.min, tzinfo=UTC),
        datetime.combine(next_month, time.min, tzinfo=UTC),
    )


def usage_current(*, subscription_ids: Sequence[int], now: datetime) -> dict[tuple[int, str], int]:
    """Admitted requests per (subscription, period) in the current UTC day and month."""
    today, month = period_starts(now)
    rows = QuotaUsage.objects.filter(subscription_id__in=subscription_ids).filter(
        Q(period=QuotaUsage.Period.DAY, start=today) | Q(period=QuotaUsage.Period.MONTH, start=month)
    )
    return {(sid, period): used for sid, period, used in rows.values_list("subscription_id", "period", "used")}


def quota_states(*, application: Application, now: datetime | None = None) -> list[QuotaState]:
    """Quota use of the application's live subscriptions in the current UTC day and month: two queries, and one
    more when a plan's quota is the organisation's (the shared counter and each application's part of it)."""
    now = now or timezone.now()
    subscriptions = list(
        Subscription.objects.live().filter(application=application).select_related("api", "plan").order_by("pk")
    )
    usage = usage_current(subscription_ids=[s.pk for s in subscriptions], now=now)
    day_end, month_end = period_ends(now)
    groups = {(application.organisation_id, s.plan_id) for s in subscriptions if s.plan.quota_shared}
    today, month = period_starts(now)
    shares = organisation_shares(groups=groups, today=today, month=month)
    states = []
    for sub in subscriptions:
        share = shares.get((application.organisation_id, sub.plan_id), []) if sub.plan.quota_shared else None
        states.append(
            QuotaState(
                subscription=sub,
                day_limit=sub.plan.quota_per_day,
                day_used=usage.get((sub.pk, QuotaUsage.Period.DAY), 0) if share is None else sum_day(share),
                day_resets_at=day_end,
                month_limit=sub.plan.quota_per_month,
                month_used=usage.get((sub.pk, QuotaUsage.Period.MONTH), 0) if share is None else sum_month(share),
                month_resets_at=month_end,
                shares=share,
            )
        )
    return states


# --- The request log: one application's raw events, newest first, by keyset ---------------------------------------

REQUEST_LOG_ORDER = ("-time", "-gateway_id", "-sequence", "-position")
_CURSOR_SALT = "analytics.request-log.cursor"


@dataclass(frozen=True)
class RequestLogFilter:
    """What the request log may be narrowed to; every field is optional and they combine with AND."""

    status_class: int | None = None  # 1 to 5
    status: int | None = None
    method: str | None = None
    path_prefix: str | None = None
    key_id: int | None = None
    client_ip: str | None = None
    denial_cause: str | None = None
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive


@dataclass
class RequestLogPage:
    """One page of events and the opaque cursor of the next (older) page, if there is one."""

    events: list[RequestEvent]
    next_cursor: str | None


def request_log_cursor(event: RequestEvent) -> str:
    """The signed, opaque position after `event`: a forged or damaged cursor is refused, never run as a query."""
    position = [event.time.astimezone(UTC).isoformat(), event.gateway_id, event.sequence, event.position]
    return signing.dumps(position, salt=_CURSOR_SALT, compress=True)


def request_log_position(cursor: str) -> tuple[datetime, int, int, int]:
    """The keyset position a cursor holds; ValidationFailed (a 400) when it was not made by request_log_cursor."""
    try:
        moment, gateway_id, sequence, position = signing.loads(cursor, salt=_CURSOR_SALT)
        return datetime.fromisoformat(moment), int(gateway_id), int(sequence), int(position)
    except (signing.BadSignature, ValueError, TypeError):
        raise ValidationFailed("Invalid cursor.", field_errors={"cursor": ["Not a cursor this log gave."]}) from None


def _before(moment: datetime, gateway_id: int, sequence: int, position: int) -> Q:
    """Rows after this position in the keyset order. `time <= moment` bounds the index scan (PostgreSQL seeks to
    it); the rest breaks ties between events of the same microsecond."""
    tie = Q(gateway_id__lt=gateway_id) | Q(gateway_id=gateway_id, sequence__lt=sequence)
    tie |= Q(gateway_id=gateway_id, sequence=sequence, position__lt=position)
    return Q(time__lte=moment) & (Q(time__lt=moment) | (Q(time=moment) & tie))


def request_events(*, application: Application, filters: RequestLogFilter) -> QuerySet[RequestEvent]:
    """The application's events matching `filters`, newest first (the keyset order)."""
    events = RequestEvent.objects.filter(application_id=application.pk)
    f = filters
    if f.status_class is not None:
        events = events.filter(status__gte=f.status_class * 100, status__lt=(f.status_class + 1) * 100)
    if f.status is not None:
        events = events.filter(status=f.status)
    if f.method:
        events = events.filter(method=f.method)
    if f.path_prefix:
        events = events.filter(path__startswith=f.path_prefix)
    if f.key_id is not None:
        events = events.filter(key_id=f.key_id)
    if f.client_ip:
        events = events.filter(client_ip=f.client_ip)
    if f.denial_cause:
        events = events.filter(denial_cause=f.denial_cause)
    if f.start is not None:
        events = events.filter(time__gte=f.start)
    if f.end is not None:
        events = events.filter(time__lt=f.end)
    return events.order_by(*REQUEST_LOG_ORDER)


def request_log_page(
    *, application: Application, filters: RequestLogFilter, cursor: str | None = None, size: int = 50
) -> RequestLogPage:
    """One page of the request log: a keyset seek past `cursor` (no OFFSET), so a deep page costs a first page."""
    events = request_events(application=application, filters=filters)
    if cursor:
        events = events.filter(_before(*request_log_position(cursor)))
    rows = list(events[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return RequestLogPage(events=rows, next_cursor=request_log_cursor(rows[-1]) if more else None)


def request_event_get(*, application: Application, request_id: str) -> RequestEvent:
    """The newest event of the application with this request id (clients may reuse theirs); NotFound otherwise."""
    event = (
        RequestEvent.objects.filter(application_id=application.pk, request_id=request_id)
        .order_by(*REQUEST_LOG_ORDER)
        .first()
    )
    if event is None:
        raise NotFound("No request with this id in the application's log.")
    return event
