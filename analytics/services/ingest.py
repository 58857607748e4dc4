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
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from analytics.models import LATENCY_BOUNDS_MS, LATENCY_FIELDS, IngestedBatch, QuotaUsage, RequestEvent, UsageRollup
from analytics.services import quota
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


def _address(value: str) -> tuple[str | None, bool]:
    """A client address in canonical form, or None (and repaired) when it is not an IP address."""
    if value == "":
        return None, False
    if len(value) > 45:
        return None, True
    try:
        return str(ipaddress.ip_address(value)), False
    except ValueError:
        return None, True


# Validated addresses by their text: a pure function of the string, so the cache may outlive a page.
_ADDRESSES: dict[str, tuple[str | None, bool]] = {}
_ADDRESSES_MAX = 50_000


def _copy_text(value: str) -> str:
    """A cleaned string as a COPY text field: control characters are gone already, so only `\\` is special."""
    return value.replace("\\", "\\\\")


# Latencies come with millisecond resolution, so a page repeats few values: each is converted, formatted and
# placed in a histogram bucket once. Pure functions of the value, so the caches may outlive a page.
_LATENCIES: dict[float, tuple[float, str, int]] = {}
_SECONDS: dict[int, str] = {}
_CACHE_MAX = 100_000


def _latency(seconds: float) -> tuple[float, str, int]:
    """Milliseconds, as COPY text, and the histogram counter index (6 + bucket), of a valid latency."""
    if len(_LATENCIES) >= _CACHE_MAX:
        _LATENCIES.clear()
    ms = seconds * 1000.0
    entry = _LATENCIES[seconds] = (ms, repr(ms), 6 + bisect_left(LATENCY_BOUNDS_MS, ms))
    return entry


def _timestamp_text(t: float) -> str:
    """`datetime.fromtimestamp(t, UTC)` as PostgreSQL text, to the same microsecond, without a datetime per event.

    CPython rounds the fraction half-to-even to microseconds, as `round` does (tests/analytics/test_ingest.py).
    """
    fraction, whole = math.modf(t)
    micro = round(fraction * 1e6)
    second = int(whole)
    if micro >= 1_000_000:
        second, micro = second + 1, micro - 1_000_000
    text = _SECONDS.get(second)
    if text is None:
        if len(_SECONDS) >= _CACHE_MAX:
            _SECONDS.clear()
        text = _SECONDS[second] = f"{datetime.fromtimestamp(second, UTC):%Y-%m-%d %H:%M:%S}"
    return f"{text}.{micro:06d}+00"


# An identity is what a record says about who called what: (api, application, organisation, subscription, plan,
# key prefix), each already validated in form. A page has few of them, so they are checked against the database
# and resolved once each, not once per record.
Identity = tuple[int | None, int | None, int | None, int | None, int | None, str]


@dataclass
class _Known:
    """Which of the ids a page mentions exist, and how they relate."""

    apps: dict[int, int]  # application -> organisation
    apis: set[int]
    plans: set[int]
    subs: dict[int, tuple[int, int]]  # subscription -> (application, api)
    keys: dict[tuple[int, str], int | None]  # (application, prefix) -> key (None when ambiguous)


def _lookup(identities: Collection[Identity]) -> _Known:
    api_ids = {i[0] for i in identities if i[0] is not None}
    app_ids = {i[1] for i in identities if i[1] is not None}
    sub_ids = {i[3] for i in identities if i[3] is not None}
    plan_ids = {i[4] for i in identities if i[4] is not None}
    prefixes = {i[5] for i in identities if i[5] and i[1] is not None}
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


@dataclass
class _Resolved:
    """An identity after the id checks: what is stored and counted for its records."""

    api: int | None
    app: int | None
    org: int | None
    sub: int | None
    plan: int | None
    key_id: int | None
    prefix: str
    dirty: bool  # an id was dropped or corrected

    def copy_suffix(self) -> str:
        """The identity's columns as the end of a COPY text line (see _COPY_COLUMNS)."""
        fields = (self.api, self.app, self.org, self.sub, self.plan, self.key_id)
        ids = "\t".join("\\N" if v is None else str(v) for v in fields)
        return f"{ids}\t{_copy_text(self.prefix)}\n"


def _resolve(identity: Identity, known: _Known) -> _Resolved:
    """Unknown ids are dropped, the organisation is the application's and a subscription must match both."""
    api, app, org, sub, plan, prefix = identity
    dirty = False
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
    key_id = known.keys.get((app, prefix)) if app is not None and prefix else None
    return _Resolved(api, app, org, sub, plan, key_id, prefix, dirty)


# --------------------------------------------------------------------------- writing


# Events are written in this column order: the identity's columns come last, so a page's lines can be built
# before the identities are resolved and completed per identity with one join (see _write_events).
_COPY_COLUMNS = (
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
    "limit_outcome",
    "api_id",
    "application_id",
    "organisation_id",
    "subscription_id",
    "plan_id",
    "key_id",
    "key_prefix",
)


def _write_events(lines: dict[Identity, list[Any]], resolved: dict[Identity, _Resolved]) -> None:
    """COPY the page's events: PostgreSQL gets text lines, other databases (the smoke suite's SQLite) rows."""
    table = RequestEvent._meta.db_table
    if connection.vendor == "postgresql":
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table} ({', '.join(_COPY_COLUMNS)}) FROM STDIN") as copy,
        ):
            for identity, heads in lines.items():
                suffix = resolved[identity].copy_suffix()
                copy.write(suffix.join(heads) + suffix)
        return
    adapt = connection.ops.adapt_datetimefield_value
    sql = f"INSERT INTO {table} ({', '.join(_COPY_COLUMNS)}) VALUES ({', '.join(['%s'] * len(_COPY_COLUMNS))})"
    params = []
    for identity, heads in lines.items():
        r = resolved[identity]
        tail = (r.api, r.app, r.org, r.sub, r.plan, r.key_id, r.prefix)
        params += [(adapt(head[0]), *head[1:], *tail) for head in heads]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


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


@dataclass
class _Page:
    """What the scan of a page's records gathers, keyed by identity until the identities are resolved."""

    lines: dict[Identity, list[Any]]  # COPY text lines without the identity's columns (rows off PostgreSQL)
    minutes: dict[tuple[int, Identity, int], list[float]]  # (minute, identity, status class) -> counters
    admitted: dict[tuple[Identity, int], int]  # (identity, UTC day number) -> requests let through
    last_seen: dict[Identity, float]  # identities with a key prefix -> newest event time
    clean: list[dict[Identity, int]]  # per batch: records with nothing repaired yet, by identity


def _scan(page: _Page, result: IngestResult, records: Any, gateway_id: int, lo: float, hi: float, text: bool) -> None:
    """Validate one batch's records as hostile input and gather them into the page.

    This loop runs for every event, so the common case (well-formed, ASCII, in range) is checked inline and
    only odd values go through the helpers; the rules are those of the docstring at the top of this module.
    """
    if not isinstance(records, list):
        result.rejected = 1  # the whole payload is one unusable record
        records = []
    if len(records) > MAX_RECORDS_PER_BATCH:
        result.rejected += len(records) - MAX_RECORDS_PER_BATCH
        records = records[:MAX_RECORDS_PER_BATCH]
    lines, minutes, admitted, last_seen = page.lines, page.minutes, page.admitted, page.last_seen
    clean: dict[Identity, int] = {}
    page.clean.append(clean)
    addresses, latencies, denied_outcomes, n_counters = _ADDRESSES, _LATENCIES, DENIED_OUTCOMES, _N_COUNTERS
    stamps: dict[Any, Any] = {}
    null = "\\N"  # COPY's NULL
    head: Any
    stamp: Any
    head_prefix = f"{gateway_id}\t{result.sequence}\t"
    rejected = stored = dirty_records = 0
    for position, rec in enumerate(records):
        if type(rec) is not dict:
            rejected += 1
            continue
        t, status = rec.get("t"), rec.get("s")
        if not ((type(t) is float or type(t) is int) and lo <= t <= hi) or not (  # NaN and infinities fail too
            type(status) is int and 100 <= status <= 599
        ):
            rejected += 1
            continue
        dirty = False
        rt = rec.get("rt")
        if rt is None:
            rt_text = null
        elif (type(rt) is float or type(rt) is int) and 0 <= rt <= MAX_SECONDS:
            rt, rt_text, bucket = latencies.get(rt) or _latency(rt)
        else:
            rt, rt_text, dirty = None, null, True
        ut = rec.get("ut")
        if ut is None:
            ut_text = null
        elif (type(ut) is float or type(ut) is int) and 0 <= ut <= MAX_SECONDS:
            ut, ut_text, _ = latencies.get(ut) or _latency(ut)
        else:
            ut, ut_text, dirty = None, null, True
        bi = rec.get("bi")
        if not (type(bi) is int and 0 <= bi <= MAX_BYTES):
            bi, dirty = 0, True
        bo = rec.get("bo")
        if not (type(bo) is int and 0 <= bo <= MAX_BYTES):
            bo, dirty = 0, True
        request_id = rec.get("id")
        if not (
            type(request_id) is str and len(request_id) <= _CAP_ID and request_id.isascii() and request_id.isprintable()
        ):
            request_id, changed = _text(request_id, _CAP_ID)
            dirty = dirty or changed
        method = rec.get("m")
        if not (type(method) is str and len(method) <= _CAP_METHOD and method.isascii() and method.isprintable()):
            method, changed = _text(method, _CAP_METHOD)
            dirty = dirty or changed
        path = rec.get("p")
        if not (type(path) is str and len(path) <= _CAP_PATH and path.isascii() and path.isprintable()):
            path, changed = _text(path, _CAP_PATH)
            dirty = dirty or changed
        prefix = rec.get("key")
        if not (type(prefix) is str and len(prefix) <= _CAP_KEY and prefix.isascii() and prefix.isprintable()):
            prefix, changed = _text(prefix, _CAP_KEY)
            dirty = dirty or changed
        ip = rec.get("ip")
        if type(ip) is str:
            checked = addresses.get(ip)
            if checked is None:
                if len(addresses) >= _ADDRESSES_MAX:
                    addresses.clear()
                checked = addresses[ip] = _address(ip)
            ip, changed = checked
            dirty = dirty or changed
        elif ip is not None:
            ip, dirty = None, True
        lim = rec.get("lim")
        if type(lim) is str:
            if lim not in LIMIT_OUTCOMES:
                lim, dirty = "", True
        elif lim is None:
            lim = ""  # not logged: no outcome to tell, nothing repaired
        else:
            lim, dirty = "", True
        api = rec.get("api")
        if api is not None and not (type(api) is int and 0 < api <= MAX_ID):
            api, dirty = None, True
        app = rec.get("app")
        if app is not None and not (type(app) is int and 0 < app <= MAX_ID):
            app, dirty = None, True
        org = rec.get("org")
        if org is not None and not (type(org) is int and 0 < org <= MAX_ID):
            org, dirty = None, True
        sub = rec.get("sub")
        if sub is not None and not (type(sub) is int and 0 < sub <= MAX_ID):
            sub, dirty = None, True
        plan = rec.get("plan")
        if plan is not None and not (type(plan) is int and 0 < plan <= MAX_ID):
            plan, dirty = None, True
        identity = (api, app, org, sub, plan, prefix)

        if text:
            stamp = _timestamp_text(t)
        else:
            stamp = stamps.get(t)
            if stamp is None:
                stamp = stamps[t] = datetime.fromtimestamp(t, UTC)
        if text:
            head = (
                f"{stamp}\t{head_prefix}{position}\t{request_id}\t{method}\t{path}\t{status}\t"
                f"{rt_text}\t{ut_text}\t{bi}\t{bo}\t"
                f"{null if ip is None else ip}\t{lim}\t"
            )
            if "\\" in request_id or "\\" in method or "\\" in path:
                head = (
                    f"{stamp}\t{head_prefix}{position}\t{_copy_text(request_id)}\t{_copy_text(method)}\t"
                    f"{_copy_text(path)}\t{status}\t{rt_text}\t{ut_text}\t"
                    f"{bi}\t{bo}\t{null if ip is None else ip}\t{lim}\t"
                )
        else:
            head = (
                stamp,
                gateway_id,
                result.sequence,
                position,
                request_id,
                method,
                path,
                status,
                rt,
                ut,
                bi,
                bo,
                ip,
                lim,
            )
        heads = lines.get(identity)
        if heads is None:
            heads = lines[identity] = []
        heads.append(head)
        stored += 1
        if dirty:
            dirty_records += 1
        else:
            clean[identity] = clean.get(identity, 0) + 1

        second = int(t)  # t > 0, so this is the floor
        group = (second - second % 60, identity, status // 100)
        counters = minutes.get(group)
        if counters is None:
            counters = minutes[group] = [0] * n_counters
        counters[0] += 1
        if status >= 500:
            counters[1] += 1
        if lim in denied_outcomes:
            counters[2] += 1
        counters[3] += bi
        counters[4] += bo
        if rt is not None:
            counters[5] += rt
            counters[bucket] += 1
        if prefix and last_seen.get(identity, 0.0) < t:
            last_seen[identity] = t
        if lim == "ok" and sub is not None:
            day = (identity, second // 86400)
            admitted[day] = admitted.get(day, 0) + 1
    result.rejected += rejected
    result.records = stored
    result.sanitised = dirty_records  # plus the records whose ids are corrected, once the ids are checked


def _ingest_records(gateway_id: int, work: list[tuple[IngestResult, Any]], now: datetime) -> None:
    now_ts = now.timestamp()
    lo = now_ts - settings.PORTICO_USAGE_MAX_EVENT_AGE_DAYS * 86400
    hi = now_ts + FUTURE_SLACK_SECONDS
    text = connection.vendor == "postgresql"
    page = _Page(lines={}, minutes={}, admitted={}, last_seen={}, clean=[])
    for result, records in work:
        _scan(page, result, records, gateway_id, lo, hi, text)
    known = _lookup(page.lines.keys())
    resolved = {identity: _resolve(identity, known) for identity in page.lines}
    for (result, _), clean in zip(work, page.clean, strict=True):
        result.sanitised += sum(n for identity, n in clean.items() if resolved[identity].dirty)

    minutes: dict[tuple[int, ...], list[float]] = {}
    for (minute, identity, status_class), counters in page.minutes.items():
        r = resolved[identity]
        group = (minute, r.org or 0, r.app or 0, r.key_id or 0, r.api or 0, status_class)
        into = minutes.get(group)
        if into is None:
            minutes[group] = counters
        else:
            for i in range(_N_COUNTERS):
                into[i] += counters[i]
    admitted: dict[tuple[int, str, date], int] = defaultdict(int)
    days: dict[int, tuple[date, date]] = {}
    for (identity, day_number), n in page.admitted.items():
        sub = resolved[identity].sub
        if sub is None:
            continue
        periods = days.get(day_number)
        if periods is None:
            day = date(1970, 1, 1) + timedelta(days=day_number)
            periods = days[day_number] = (day, day.replace(day=1))
        admitted[(sub, QuotaUsage.Period.DAY, periods[0])] += n
        admitted[(sub, QuotaUsage.Period.MONTH, periods[1])] += n
    last_used: dict[int, float] = {}
    for identity, t in page.last_seen.items():
        key_id = resolved[identity].key_id
        if key_id is not None and last_used.get(key_id, 0.0) < t:
            last_used[key_id] = t

    if page.lines:
        _write_events(page.lines, resolved)
        _write_rollups(minutes)
    if admitted:
        _write_quota_usage(admitted)
    if last_used:
        _write_last_used(last_used)
    if admitted:
        quota.quota_evaluate(subscription_ids=sorted({sub for sub, _, _ in admitted}), now=now)
