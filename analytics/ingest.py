"""Exactly-once ingest of gateway access-log batches (docs/gateway-protocol.md §6).

One batch is one transaction: claim `(gateway, sequence)` in IngestedBatch (a batch seen before stops there),
validate the records as hostile input, store them as events (COPY on PostgreSQL), add them to the minute, hour
and day rollups and to the quota counters with additive upserts, move keys' `last_used_at`, then check quotas.
A batch delivered twice, out of order or redelivered after a killed worker is therefore counted exactly once.
"""

from __future__ import annotations

import ipaddress
import math
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from analytics import quota
from analytics.models import LATENCY_BOUNDS_MS, LATENCY_FIELDS, IngestedBatch, QuotaUsage, RequestEvent, UsageRollup
from keys.models import ApiKey
from portal.models import Api, Application, Plan, Subscription

MAX_ID = 2**63 - 1
MAX_BYTES = 2**40  # a terabyte in one request is a bug or a lie
MAX_SECONDS = 86_400.0  # no request takes a day
MAX_RECORDS_PER_BATCH = 100_000
FUTURE_SLACK_SECONDS = 300  # gateway clocks may run a little ahead, not more
LIMIT_OUTCOMES = frozenset({"ok", "rate", "quota", "blocked", ""})
DENIED_OUTCOMES = frozenset({"rate", "quota", "blocked"})

# Field caps match RequestEvent's columns.
_CAP_ID, _CAP_METHOD, _CAP_PATH, _CAP_KEY = 64, 16, 512, 20
# C0 and C1 control characters (and DEL) are dropped from every string; NUL would even break PostgreSQL text.
_CONTROL = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0)])

EVENT_COLUMNS = (
    "time",
    "gateway_id",
    "sequence",
    "position",
    "request_id",
    "method",
    "path",
    "status",
    "latency_ms",
    "upstream_ms",
    "bytes_in",
    "bytes_out",
    "client_ip",
    "api_id",
    "application_id",
    "organisation_id",
    "subscription_id",
    "plan_id",
    "key_id",
    "key_prefix",
    "limit_outcome",
)
_GROUP = ("bucket", "organisation_id", "application_id", "key_id", "api_id", "status_class")
_COUNTERS = ("requests", "errors", "denied", "bytes_in", "bytes_out", "latency_sum_ms", *LATENCY_FIELDS)
_N_COUNTERS = len(_COUNTERS)
_UNIQUE = ("granularity", "application_id", "bucket", "api_id", "key_id", "status_class", "organisation_id")
_GRANULARITY_SECONDS = {UsageRollup.Granularity.HOUR: 3600, UsageRollup.Granularity.DAY: 86400}


class InvalidBatch(ValueError):
    """The batch envelope itself is unusable (no integer sequence): it cannot be counted, nor skipped safely."""


@dataclass
class IngestResult:
    """What one batch_ingest call did."""

    sequence: int
    duplicate: bool = False
    records: int = 0
    rejected: int = 0
    sanitised: int = 0


def _rollup_upsert_sql() -> str:
    table = UsageRollup._meta.db_table
    columns = ROLLUP_COLUMNS
    updates = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in _COUNTERS)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({', '.join(_UNIQUE)}) DO UPDATE SET {updates}"
    )


ROLLUP_COLUMNS = ("granularity", *_GROUP, *_COUNTERS)
ROLLUP_UPSERT = _rollup_upsert_sql()
_STAGE = "analytics_rollup_stage"
ROLLUP_FROM_STAGE = ROLLUP_UPSERT.replace(
    f"VALUES ({', '.join(['%s'] * len(ROLLUP_COLUMNS))})",
    # Ordered like the unique index, so concurrent ingests lock rollup rows in the same order.
    f"SELECT {', '.join(ROLLUP_COLUMNS)} FROM {_STAGE} ORDER BY {', '.join(_UNIQUE)}",
)
QUOTA_UPSERT = (
    f"INSERT INTO {QuotaUsage._meta.db_table} (subscription_id, period, start, used) VALUES (%s, %s, %s, %s) "
    f"ON CONFLICT (subscription_id, period, start) DO UPDATE SET used = {QuotaUsage._meta.db_table}.used + "
    "excluded.used"
)
KEY_LAST_USED = (
    f"UPDATE {ApiKey._meta.db_table} SET last_used_at = %s "
    "WHERE id = %s AND (last_used_at IS NULL OR last_used_at < %s)"
)


# --------------------------------------------------------------------------- validation


def _text(value: Any, cap: int) -> tuple[str, bool]:
    """A capped string without control characters, and whether it had to change."""
    if type(value) is not str:
        return "", value is not None
    changed = False
    if len(value) > cap:
        value, changed = value[:cap], True
    if not value.isprintable():
        cleaned = value.translate(_CONTROL)
        value, changed = cleaned, changed or cleaned != value
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:  # lone surrogates from "\ud800" escapes cannot be stored as UTF-8
            value, changed = value.encode("utf-8", "replace").decode(), True
    return value, changed


def _seconds(value: Any) -> tuple[float | None, bool]:
    """Seconds as milliseconds; anything but a sane non-negative number becomes None."""
    if value is None:
        return None, False
    kind = type(value)
    if (kind is float or kind is int) and 0 <= value <= MAX_SECONDS:
        return value * 1000.0, False
    return None, True


def _count(value: Any) -> tuple[int, bool]:
    if type(value) is int and 0 <= value <= MAX_BYTES:
        return value, False
    return 0, True


def _id(value: Any) -> tuple[int | None, bool]:
    if value is None:
        return None, False
    if type(value) is int and 0 < value <= MAX_ID:
        return value, False
    return None, True


class _Addresses(dict[Any, tuple[str | None, bool]]):
    """Per-batch cache of validated client addresses (a batch repeats the same few many times)."""

    def __missing__(self, value: Any) -> tuple[str | None, bool]:
        if value is None or value == "":
            result: tuple[str | None, bool] = (None, False)
        elif type(value) is not str or len(value) > 45:
            result = (None, True)
        else:
            try:
                result = (str(ipaddress.ip_address(value)), False)
            except ValueError:
                result = (None, True)
        if type(value) is str:
            self[value] = result
        return result


def _clean(rec: Any, lo: float, hi: float, addresses: _Addresses) -> list[Any] | None:
    """One record as a mutable row (see _ROW), or None when it must be rejected outright."""
    if type(rec) is not dict:
        return None
    t, status = rec.get("t"), rec.get("s")
    if not ((type(t) is float or type(t) is int) and lo <= t <= hi):  # NaN and infinities fail too
        return None
    if not (type(status) is int and 100 <= status <= 599):
        return None
    rt, d1 = _seconds(rec.get("rt"))
    ut, d2 = _seconds(rec.get("ut"))
    bi, d3 = _count(rec.get("bi"))
    bo, d4 = _count(rec.get("bo"))
    request_id, d5 = _text(rec.get("id"), _CAP_ID)
    method, d6 = _text(rec.get("m"), _CAP_METHOD)
    path, d7 = _text(rec.get("p"), _CAP_PATH)
    prefix, d8 = _text(rec.get("key"), _CAP_KEY)
    ip, d9 = addresses[rec.get("ip")]
    api, d10 = _id(rec.get("api"))
    app, d11 = _id(rec.get("app"))
    org, d12 = _id(rec.get("org"))
    sub, d13 = _id(rec.get("sub"))
    plan, d14 = _id(rec.get("plan"))
    lim = rec.get("lim")
    d15 = lim not in LIMIT_OUTCOMES if type(lim) is str else lim is not None
    if d15:
        lim = ""
    dirty = d1 or d2 or d3 or d4 or d5 or d6 or d7 or d8 or d9 or d10 or d11 or d12 or d13 or d14 or d15
    return [t, request_id, method, path, status, rt, ut, bi, bo, ip, api, app, org, sub, plan, prefix, lim, dirty]


# Positions in a cleaned row.
_T, _RID, _M, _P, _S, _RT, _UT, _BI, _BO, _IP, _API, _APP, _ORG, _SUB, _PLAN, _KEY, _LIM, _DIRTY = range(18)


@dataclass
class _Known:
    """Which of the ids a batch mentions exist, and how they relate."""

    apps: dict[int, int]  # application -> organisation
    apis: set[int]
    plans: set[int]
    subs: dict[int, tuple[int, int]]  # subscription -> (application, api)
    keys: dict[tuple[int, str], int | None]  # (application, prefix) -> key (None when ambiguous)


def _lookup(rows: list[list[Any]]) -> _Known:
    app_ids = {r[_APP] for r in rows if r[_APP] is not None}
    api_ids = {r[_API] for r in rows if r[_API] is not None}
    plan_ids = {r[_PLAN] for r in rows if r[_PLAN] is not None}
    sub_ids = {r[_SUB] for r in rows if r[_SUB] is not None}
    prefixes = {r[_KEY] for r in rows if r[_KEY] and r[_APP] is not None}
    apps = dict(Application.objects.filter(pk__in=app_ids).values_list("id", "organisation_id")) if app_ids else {}
    subs = Subscription.objects.filter(pk__in=sub_ids).values_list("id", "application_id", "api_id") if sub_ids else []
    keys: dict[tuple[int, str], int | None] = {}
    if prefixes and apps:
        for key_id, prefix, app_id in ApiKey.objects.filter(prefix__in=prefixes, application_id__in=apps).values_list(
            "id", "prefix", "application_id"
        ):
            # Prefixes are not unique in theory; an ambiguous one is attributed to no key rather than a wrong one.
            keys[(app_id, prefix)] = None if (app_id, prefix) in keys else key_id
    return _Known(
        apps=apps,
        apis=set(Api.objects.filter(pk__in=api_ids).values_list("id", flat=True)) if api_ids else set(),
        plans=set(Plan.objects.filter(pk__in=plan_ids).values_list("id", flat=True)) if plan_ids else set(),
        subs={sid: (app, api) for sid, app, api in subs},
        keys=keys,
    )


# --------------------------------------------------------------------------- writing


def _write_events(events: list[tuple[Any, ...]]) -> None:
    table = RequestEvent._meta.db_table
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            raw = cursor.cursor  # the psycopg cursor under Django's wrapper
            with raw.copy(f"COPY {table} ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
                for row in events:
                    copy.write_row(row)
        return
    adapt = connection.ops.adapt_datetimefield_value
    sql = f"INSERT INTO {table} ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join(['%s'] * len(EVENT_COLUMNS))})"
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(adapt(row[0]), *row[1:]) for row in events])


def _collapse(groups: dict[tuple[int, ...], list[float]], seconds: int) -> dict[tuple[int, ...], list[float]]:
    """Minute groups summed into hour or day groups (far fewer groups than records, so this is cheap)."""
    coarser: dict[tuple[int, ...], list[float]] = {}
    for key, counters in groups.items():
        wider = (key[0] - key[0] % seconds, *key[1:])
        into = coarser.get(wider)
        if into is None:
            coarser[wider] = list(counters)
        else:
            for i in range(_N_COUNTERS):
                into[i] += counters[i]
    return coarser


def _write_rollups(minutes: dict[tuple[int, ...], list[float]]) -> None:
    adapt = connection.ops.adapt_datetimefield_value
    buckets: dict[int, Any] = {}

    def bucket(epoch: int) -> Any:
        if epoch not in buckets:
            buckets[epoch] = adapt(datetime.fromtimestamp(epoch, UTC))
        return buckets[epoch]

    params = []
    for granularity, groups in (
        (UsageRollup.Granularity.MINUTE, minutes),
        (UsageRollup.Granularity.HOUR, _collapse(minutes, 3600)),
        (UsageRollup.Granularity.DAY, _collapse(minutes, 86400)),
    ):
        # Sorted, so concurrent ingests lock rollup rows in the same order and cannot deadlock.
        for key in sorted(groups):
            params.append((str(granularity), bucket(key[0]), *key[1:], *groups[key]))
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.executemany(ROLLUP_UPSERT, params)
        return
    # PostgreSQL: COPY into a session-private staging table, then one INSERT ... SELECT ... ON CONFLICT.
    columns = ", ".join(ROLLUP_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} ON COMMIT DELETE ROWS AS "
            f"SELECT {columns} FROM {UsageRollup._meta.db_table} WITH NO DATA"
        )
        cursor.execute(f"DELETE FROM {_STAGE}")  # empty unless an earlier ingest shares this transaction
        with cursor.cursor.copy(f"COPY {_STAGE} ({columns}) FROM STDIN") as copy:
            for row in params:
                copy.write_row(row)
        cursor.execute(ROLLUP_FROM_STAGE)


def _write_last_used(last_used: dict[int, float]) -> None:
    """last_used_at = max(stored, newest event) per key; rows are locked in id order so ingests cannot deadlock."""
    ids = sorted(last_used)
    table = ApiKey._meta.db_table
    if connection.vendor == "postgresql":
        times = [datetime.fromtimestamp(last_used[key_id], UTC) for key_id in ids]
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id FROM {table} WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE", [ids])
            cursor.execute(
                f"UPDATE {table} AS k SET last_used_at = v.t FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, t) "
                "WHERE k.id = v.id AND (k.last_used_at IS NULL OR k.last_used_at < v.t)",
                [ids, times],
            )
        return
    adapt = connection.ops.adapt_datetimefield_value
    params = []
    for key_id in ids:
        when = adapt(datetime.fromtimestamp(last_used[key_id], UTC))
        params.append((when, key_id, when))
    with connection.cursor() as cursor:
        cursor.executemany(KEY_LAST_USED, params)


def _write_quota_usage(admitted: dict[tuple[int, str, date], int]) -> None:
    rows = sorted(admitted.items())
    if connection.vendor == "postgresql":
        table = QuotaUsage._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (subscription_id, period, start, used) "
                "SELECT * FROM unnest(%s::bigint[], %s::varchar[], %s::date[], %s::bigint[]) ORDER BY 1, 2, 3 "
                f"ON CONFLICT (subscription_id, period, start) DO UPDATE SET used = {table}.used + excluded.used",
                [[k[0] for k, _ in rows], [str(k[1]) for k, _ in rows], [k[2] for k, _ in rows], [n for _, n in rows]],
            )
        return
    adapt = connection.ops.adapt_datefield_value
    params = [(sub, str(period), adapt(start), used) for (sub, period, start), used in rows]
    with connection.cursor() as cursor:
        cursor.executemany(QUOTA_UPSERT, params)


# --------------------------------------------------------------------------- the service


def _sequence(batch: Any) -> int:
    sequence = batch.get("sequence") if isinstance(batch, dict) else None
    if type(sequence) is not int or not 0 < sequence <= MAX_ID:
        raise InvalidBatch("a batch must be a JSON object with a positive integer sequence")
    return sequence


def _claim(gateway_id: int, claims: list[tuple[int, int]], now: datetime) -> set[int]:
    """Insert the batch records; returns the sequences that were new (the others were counted before)."""
    when = connection.ops.adapt_datetimefield_value(now)
    values = ", ".join(["(%s, %s, 0, 0, 0, %s, %s)"] * len(claims))
    params: list[Any] = []
    for sequence, skipped in claims:
        params += [gateway_id, sequence, skipped, when]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {IngestedBatch._meta.db_table} (gateway_id, sequence, records, rejected, sanitised, "
            f"skipped_before, ingested_at) VALUES {values} ON CONFLICT (gateway_id, sequence) DO NOTHING "
            "RETURNING sequence",
            params,
        )
        return {row[0] for row in cursor.fetchall()}


def batch_ingest(*, gateway_id: int, batch: Any, skipped_before: int = 0, now: datetime | None = None) -> IngestResult:
    """Count one access-log batch exactly once: events, rollups, last use of keys, quota counters and blocks."""
    return batches_ingest(gateway_id=gateway_id, batches=[batch], skipped_before=[skipped_before], now=now)[0]


def batches_ingest(
    *,
    gateway_id: int,
    batches: Sequence[Any],
    skipped_before: Sequence[int] | None = None,
    now: datetime | None = None,
) -> list[IngestResult]:
    """Count a page of batches exactly once in one transaction (one COPY and one rollup upsert for all of them)."""
    sequences = [_sequence(batch) for batch in batches]
    if not sequences:
        return []
    skipped = list(skipped_before) if skipped_before is not None else [0] * len(sequences)
    now = now or timezone.now()
    claims = list(dict(zip(sequences, skipped, strict=True)).items())
    with transaction.atomic():
        fresh = _claim(gateway_id, claims, now)
        results, work = [], []
        for sequence, batch in zip(sequences, batches, strict=True):
            result = IngestResult(sequence=sequence, duplicate=sequence not in fresh)
            fresh.discard(sequence)  # a sequence repeated inside the page counts once too
            results.append(result)
            if not result.duplicate:
                work.append((result, batch.get("records")))
        if work:
            _ingest_records(gateway_id, work, now)
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"UPDATE {IngestedBatch._meta.db_table} SET records = %s, rejected = %s, sanitised = %s "
                    "WHERE gateway_id = %s AND sequence = %s",
                    [(r.records, r.rejected, r.sanitised, gateway_id, r.sequence) for r, _ in work],
                )
    return results


def _clean_all(
    work: list[tuple[IngestResult, Any]], now: datetime
) -> list[tuple[IngestResult, list[list[Any]], list[int]]]:
    now_ts = now.timestamp()
    lo = now_ts - settings.PORTICO_USAGE_MAX_EVENT_AGE_DAYS * 86400
    hi = now_ts + FUTURE_SLACK_SECONDS
    addresses = _Addresses()
    cleaned = []
    for result, records in work:
        rows: list[list[Any]] = []
        positions: list[int] = []
        if not isinstance(records, list):
            result.rejected = 1  # the whole payload is one unusable record
            records = []
        if len(records) > MAX_RECORDS_PER_BATCH:
            result.rejected += len(records) - MAX_RECORDS_PER_BATCH
            records = records[:MAX_RECORDS_PER_BATCH]
        for position, rec in enumerate(records):
            row = _clean(rec, lo, hi, addresses)
            if row is None:
                result.rejected += 1
            else:
                rows.append(row)
                positions.append(position)
        cleaned.append((result, rows, positions))
    return cleaned


def _ingest_records(gateway_id: int, work: list[tuple[IngestResult, Any]], now: datetime) -> None:
    cleaned = _clean_all(work, now)
    known = _lookup([row for _, rows, _ in cleaned for row in rows])
    events: list[tuple[Any, ...]] = []
    minutes: dict[tuple[int, ...], list[float]] = {}
    last_used: dict[int, float] = {}
    admitted: dict[tuple[int, str, date], int] = defaultdict(int)
    days: dict[int, tuple[date, date]] = {}
    stamps: dict[float, datetime] = {}
    bounds = LATENCY_BOUNDS_MS
    for result, rows, positions in cleaned:
        sequence = result.sequence
        result.records = len(rows)
        for row, position in zip(rows, positions, strict=True):
            t, app, api, sub, plan, org = row[_T], row[_APP], row[_API], row[_SUB], row[_PLAN], row[_ORG]
            dirty = row[_DIRTY]
            if app is not None and app not in known.apps:
                app, dirty = None, True
            real_org = known.apps[app] if app is not None else None
            if org != real_org:
                org, dirty = real_org, True
            if api is not None and api not in known.apis:
                api, dirty = None, True
            if plan is not None and plan not in known.plans:
                plan, dirty = None, True
            if sub is not None and known.subs.get(sub) != (app, api):
                sub, dirty = None, True
            key_id = known.keys.get((app, row[_KEY])) if app is not None and row[_KEY] else None
            if dirty:
                result.sanitised += 1
            stamp = stamps.get(t)
            if stamp is None:
                stamp = stamps[t] = datetime.fromtimestamp(t, UTC)
            status, lim, rt = row[_S], row[_LIM], row[_RT]
            events.append(
                (
                    stamp,
                    gateway_id,
                    sequence,
                    position,
                    row[_RID],
                    row[_M],
                    row[_P],
                    status,
                    rt,
                    row[_UT],
                    row[_BI],
                    row[_BO],
                    row[_IP],
                    api,
                    app,
                    org,
                    sub,
                    plan,
                    key_id,
                    row[_KEY],
                    lim,
                )
            )
            second = math.floor(t)
            group = (second - second % 60, org or 0, app or 0, key_id or 0, api or 0, status // 100)
            counters = minutes.get(group)
            if counters is None:
                counters = minutes[group] = [0] * _N_COUNTERS
            counters[0] += 1
            if status >= 500:
                counters[1] += 1
            if lim in DENIED_OUTCOMES:
                counters[2] += 1
            counters[3] += row[_BI]
            counters[4] += row[_BO]
            if rt is not None:
                counters[5] += rt
                counters[6 + bisect_left(bounds, rt)] += 1
            if key_id is not None and last_used.get(key_id, 0.0) < t:
                last_used[key_id] = t
            if lim == "ok" and sub is not None:
                day_number = second // 86400
                periods = days.get(day_number)
                if periods is None:
                    day = date(1970, 1, 1) + timedelta(days=day_number)
                    periods = days[day_number] = (day, day.replace(day=1))
                admitted[(sub, QuotaUsage.Period.DAY, periods[0])] += 1
                admitted[(sub, QuotaUsage.Period.MONTH, periods[1])] += 1
    if events:
        _write_events(events)
        _write_rollups(minutes)
    if admitted:
        _write_quota_usage(admitted)
    if last_used:
        _write_last_used(last_used)
    if admitted:
        quota.quota_evaluate(subscription_ids=sorted({sub for sub, _, _ in admitted}), now=now)
