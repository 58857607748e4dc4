"""Raw events as PostgreSQL COPY text, and their write (COPY on PostgreSQL, executemany elsewhere).

An event's line is built in two parts: the head (time to limit outcome), per record while a page is read
(`events_encode`), and the identity's columns, once per identity after its ids are checked; one `str.join` per
identity puts them together (`events_write`), so no per-record tuple, `write_row` or datetime is built.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import UTC, datetime
from typing import Any

from django.db import connection

from analytics.models import LATENCY_BOUNDS_MS, RequestEvent
from analytics.services.records import Checked, Identity, Resolved

NULL = "\\N"  # COPY's NULL

# Events are written in this column order: the identity's columns come last, so a page's lines can be built
# before the identities are resolved and completed per identity with one join (see events_write).
COPY_COLUMNS = (
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
    "denial_cause",
    "api_id",
    "application_id",
    "organisation_id",
    "subscription_id",
    "plan_id",
    "key_id",
    "key_prefix",
)

# Latencies come with millisecond resolution, so a page repeats few values: each is converted, formatted and
# placed in a histogram bucket once. Pure functions of the value, so the caches may outlive a page.
LATENCIES: dict[float, tuple[float, str, int]] = {}
_SECONDS: dict[int, str] = {}
_CACHE_MAX = 100_000
_MICROSECONDS = 1_000_000


def copy_text(value: str) -> str:
    """A cleaned string as a COPY text field: control characters are gone already, so only `\\` is special."""
    return value.replace("\\", "\\\\")


def latency(seconds: float) -> tuple[float, str, int]:
    """Milliseconds, as COPY text, and the histogram bucket (0 = fastest), of a valid latency; cached in LATENCIES."""
    if len(LATENCIES) >= _CACHE_MAX:
        LATENCIES.clear()
    ms = seconds * 1000.0
    entry = LATENCIES[seconds] = (ms, repr(ms), bisect_left(LATENCY_BOUNDS_MS, ms))
    return entry


def timestamp_text(t: float) -> str:
    """`datetime.fromtimestamp(t, UTC)` as PostgreSQL text, to the same microsecond, without a datetime per event.

    CPython rounds the fraction half-to-even to microseconds, as `round` does (tests/analytics/test_ingest.py).
    """
    second = int(t)
    micro = round((t - second) * 1e6)  # the subtraction is exact, so only `round` rounds, as datetime's does
    if micro >= _MICROSECONDS:
        second, micro = second + 1, micro - _MICROSECONDS
    text = _SECONDS.get(second)
    if text is None:
        if len(_SECONDS) >= _CACHE_MAX:
            _SECONDS.clear()
        text = _SECONDS[second] = f"{datetime.fromtimestamp(second, UTC):%Y-%m-%d %H:%M:%S}"
    return f"{text}.{micro:06d}+00"


def events_encode(
    lines: dict[Identity, list[Any]], checked: list[Checked], *, gateway_id: int, sequence: int, text: bool
) -> None:
    """Add one batch's checked records to `lines`, by identity, as heads of COPY text lines (rows when not `text`).

    This loop runs for every event: a head is the line up to the identity's columns, in COPY_COLUMNS order.
    """
    if not text:
        _rows_encode(lines, checked, gateway_id=gateway_id, sequence=sequence)
        return
    latencies, null = LATENCIES, NULL
    head_prefix = f"{gateway_id}\t{sequence}\t"
    for position, t, status, rt, ut, bi, bo, request_id, method, path, ip, lim, cause, identity in checked:
        rt_text = null if rt is None else (latencies.get(rt) or latency(rt))[1]
        ut_text = null if ut is None else (latencies.get(ut) or latency(ut))[1]
        stamp = timestamp_text(t)
        head = (
            f"{stamp}\t{head_prefix}{position}\t{request_id}\t{method}\t{path}\t{status}\t"
            f"{rt_text}\t{ut_text}\t{bi}\t{bo}\t"
            f"{null if ip is None else ip}\t{lim}\t{cause}\t"
        )
        if "\\" in request_id or "\\" in method or "\\" in path:
            head = (
                f"{stamp}\t{head_prefix}{position}\t{copy_text(request_id)}\t{copy_text(method)}\t"
                f"{copy_text(path)}\t{status}\t{rt_text}\t{ut_text}\t"
                f"{bi}\t{bo}\t{null if ip is None else ip}\t{lim}\t{cause}\t"
            )
        heads = lines.get(identity)
        if heads is None:
            heads = lines[identity] = []
        heads.append(head)


def _rows_encode(lines: dict[Identity, list[Any]], checked: list[Checked], *, gateway_id: int, sequence: int) -> None:
    """events_encode for databases without COPY (the smoke suite's SQLite): row heads, times as datetimes."""
    stamps: dict[float, datetime] = {}
    for position, t, status, rt, ut, bi, bo, request_id, method, path, ip, lim, cause, identity in checked:
        stamp = stamps.get(t)
        if stamp is None:
            stamp = stamps[t] = datetime.fromtimestamp(t, UTC)
        rt_ms = None if rt is None else (LATENCIES.get(rt) or latency(rt))[0]
        ut_ms = None if ut is None else (LATENCIES.get(ut) or latency(ut))[0]
        head = (
            stamp,
            gateway_id,
            sequence,
            position,
            request_id,
            method,
            path,
            status,
            rt_ms,
            ut_ms,
            bi,
            bo,
            ip,
            lim,
            cause,
        )
        lines.setdefault(identity, []).append(head)


def identity_suffix(resolved: Resolved) -> str:
    """An identity's columns as the end of a COPY text line (see COPY_COLUMNS)."""
    fields = (resolved.api, resolved.app, resolved.org, resolved.sub, resolved.plan, resolved.key_id)
    ids = "\t".join(NULL if v is None else str(v) for v in fields)
    return f"{ids}\t{copy_text(resolved.prefix)}\n"


def events_write(lines: dict[Identity, list[Any]], resolved: dict[Identity, Resolved]) -> None:
    """COPY the page's events: PostgreSQL gets text lines, other databases (the smoke suite's SQLite) rows."""
    table = RequestEvent._meta.db_table
    if connection.vendor == "postgresql":
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table} ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy,
        ):
            for identity, heads in lines.items():
                suffix = identity_suffix(resolved[identity])
                copy.write(suffix.join(heads) + suffix)
        return
    adapt = connection.ops.adapt_datetimefield_value
    sql = f"INSERT INTO {table} ({', '.join(COPY_COLUMNS)}) VALUES ({', '.join(['%s'] * len(COPY_COLUMNS))})"
    params = []
    for identity, heads in lines.items():
        r = resolved[identity]
        tail = (r.api, r.app, r.org, r.sub, r.plan, r.key_id, r.prefix)
        params += [(adapt(head[0]), *head[1:], *tail) for head in heads]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
