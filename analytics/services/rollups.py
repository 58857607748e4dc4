"""Minute, hour and day rollups of a page's events: named counters, aggregation in Python, one additive upsert.

A page's records are counted per (minute, identity, status class, operation) while it is read (`rollups_count`,
the operation from the API's compiled OpenAPI paths, analytics.services.operations); once
the identities are resolved those groups are mapped to rollup groups (`minutes_group`), summed into hours and
days and written with one `INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n` (on PostgreSQL from a
COPY-filled staging table, `rollups_write`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import connection

from analytics.models import LATENCY_FIELDS, OPERATION_NONE, UsageRollup
from analytics.services.events import LATENCIES, latency
from analytics.services.operations import Matcher
from analytics.services.records import Checked, Identity, Resolved

DENIED_OUTCOMES = frozenset({"rate", "quota", "blocked"})

_GROUP = ("bucket", "organisation_id", "application_id", "key_id", "client_id", "api_id", "status_class", "operation")
COUNTERS = (
    "requests",
    "errors",
    "denied",
    "auth_failures",
    "throttled",
    "bytes_in",
    "bytes_out",
    "latency_sum_ms",
    *LATENCY_FIELDS,
)
# A group's counters are a list in COUNTERS order (the upsert's columns); these name its positions.
REQUESTS = COUNTERS.index("requests")
ERRORS = COUNTERS.index("errors")  # status >= 500
DENIED = COUNTERS.index("denied")  # refused by a rate limit, quota or block
AUTH_FAILURES = COUNTERS.index("auth_failures")  # status 401 or 403
THROTTLED = COUNTERS.index("throttled")  # status 429
BYTES_IN = COUNTERS.index("bytes_in")
BYTES_OUT = COUNTERS.index("bytes_out")
LATENCY_SUM_MS = COUNTERS.index("latency_sum_ms")
LATENCY_HISTOGRAM = COUNTERS.index(LATENCY_FIELDS[0])  # plus the bucket: the counter of that latency bucket
N_COUNTERS = len(COUNTERS)

_UNIQUE = (
    "granularity",
    "application_id",
    "bucket",
    "api_id",
    "key_id",
    "status_class",
    "organisation_id",
    "client_id",
    "operation",
)
_MINUTE, _HOUR, _DAY = 60, 3600, 86400  # seconds

# (minute, organisation, application, key, OAuth client, API, status class, operation), 0 and "" for none -> counters
Groups = dict[tuple[Any, ...], list[float]]
# (minute, identity, status class, operation) -> counters, while the page is read and its identities not yet resolved
MinuteCounts = dict[tuple[int, Identity, int, str], list[float]]


def _rollup_upsert_sql() -> str:
    table = UsageRollup._meta.db_table
    columns = ROLLUP_COLUMNS
    updates = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in COUNTERS)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({', '.join(_UNIQUE)}) DO UPDATE SET {updates}"
    )


ROLLUP_COLUMNS = ("granularity", *_GROUP, *COUNTERS)
ROLLUP_UPSERT = _rollup_upsert_sql()
_STAGE = "analytics_rollup_stage"
ROLLUP_FROM_STAGE = ROLLUP_UPSERT.replace(
    f"VALUES ({', '.join(['%s'] * len(ROLLUP_COLUMNS))})",
    # Ordered like the unique index, so concurrent ingests lock rollup rows in the same order.
    f"SELECT {', '.join(ROLLUP_COLUMNS)} FROM {_STAGE} ORDER BY {', '.join(_UNIQUE)}",
)


def rollups_count(counts: MinuteCounts, checked: list[Checked], matchers: dict[int, Matcher]) -> None:
    """Add one batch's checked records to the page's counters per (minute, identity, status class, operation).

    `matchers` are the compiled operations of the APIs the records name (operation_matchers); a record of
    another API id (unknown, so dropped when resolved) has no operation. This loop runs for every event.
    """
    latencies, denied_outcomes = LATENCIES, DENIED_OUTCOMES
    get_matcher = matchers.get
    for _, t, status, rt, _, bi, bo, _, method, path, _, lim, _, identity in checked:
        second = int(t)  # t > 0, so this is the floor
        matcher = get_matcher(identity[0])  # type: ignore[arg-type]  # None is never a key: no matcher
        if matcher is None:
            operation = OPERATION_NONE
        else:  # the matcher's memo, inline: most requests repeat a (method, path) seen before
            operation = matcher.memo.get((method, path)) or matcher.operation(method, path)
        group = (second - second % _MINUTE, identity, status // 100, operation)
        counters = counts.get(group)
        if counters is None:
            counters = counts[group] = [0] * N_COUNTERS
        counters[REQUESTS] += 1
        if status >= 400:
            if status >= 500:
                counters[ERRORS] += 1
            elif status == 429:
                counters[THROTTLED] += 1
            elif status == 401 or status == 403:
                counters[AUTH_FAILURES] += 1
        if lim in denied_outcomes:
            counters[DENIED] += 1
        counters[BYTES_IN] += bi
        counters[BYTES_OUT] += bo
        if rt is not None:
            ms, _, bucket = latencies.get(rt) or latency(rt)
            counters[LATENCY_SUM_MS] += ms
            counters[LATENCY_HISTOGRAM + bucket] += 1


def _add(into: list[float], counters: list[float]) -> None:
    for i in range(N_COUNTERS):
        into[i] += counters[i]


def minutes_group(counts: MinuteCounts, resolved: dict[Identity, Resolved]) -> Groups:
    """A page's minute counts under their rollup groups, once the identities are resolved (few groups: cheap)."""
    minutes: Groups = {}
    for (minute, identity, status_class, operation), counters in counts.items():
        r = resolved[identity]
        group = (
            minute,
            r.org or 0,
            r.app or 0,
            r.key_id or 0,
            r.client_id or 0,
            r.api or 0,
            status_class,
            operation if r.api else OPERATION_NONE,
        )
        into = minutes.get(group)
        if into is None:
            minutes[group] = counters
        else:
            _add(into, counters)
    return minutes


def _collapse(groups: Groups, seconds: int) -> Groups:
    """Minute groups summed into hour or day groups (far fewer groups than records, so this is cheap)."""
    coarser: Groups = {}
    for key, counters in groups.items():
        wider = (key[0] - key[0] % seconds, *key[1:])
        into = coarser.get(wider)
        if into is None:
            coarser[wider] = list(counters)
        else:
            _add(into, counters)
    return coarser


def rollups_write(minutes: Groups) -> None:
    """Add a page's minute groups, and the hour and day groups they make up, to the stored rollups."""
    adapt = connection.ops.adapt_datetimefield_value
    buckets: dict[int, Any] = {}

    def bucket(epoch: int) -> Any:
        if epoch not in buckets:
            buckets[epoch] = adapt(datetime.fromtimestamp(epoch, UTC))
        return buckets[epoch]

    params = []
    for granularity, groups in (
        (UsageRollup.Granularity.MINUTE, minutes),
        (UsageRollup.Granularity.HOUR, _collapse(minutes, _HOUR)),
        (UsageRollup.Granularity.DAY, _collapse(minutes, _DAY)),
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
