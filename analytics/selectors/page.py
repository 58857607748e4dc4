"""Everything the usage page shows from the rollups, in one pass over them.

The page used to run seven queries over the same rows (series, status classes twice, outcomes, by key, by client,
by operation); with a hundred operations and keys the hour view reads tens of thousands of minute rollups, so it
was seven scans. GROUPING SETS sums the rows once into every grouping the page needs; the figures are the same as
those of the single-purpose selectors (tests/analytics/test_usage_page_query.py compares them), which the REST
API still uses. SQLite has no GROUPING SETS, so there it is one query per grouping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Sum

from analytics.models import LATENCY_FIELDS, UsageRollup
from analytics.selectors import (
    _SUMMED,
    KeyUsage,
    Usage,
    _point,
    client_usage_rows,
    key_usage_rows,
    narrowed,
    rollups_in,
)
from analytics.selectors.endpoints import OperationUsage, operations_from, outcomes_from
from portal.models import Application

_SERIES = ("bucket",)
_CLASSES = ("bucket", "status_class")
_OPERATIONS = ("api_id", "operation", "status_class")
_KEYS = ("key_id", "client_id")
_COLUMNS = ("bucket", "status_class", "api_id", "operation", "key_id", "client_id")
_SUMS = (*_SUMMED, "auth_failures", "throttled")
_FEW = ("requests", "errors", "denied", "auth_failures", "throttled")


@dataclass
class UsagePage:
    """The usage page's figures for one application and range, optionally narrowed to one key or OAuth client
    (by_key and by_client never are: they are what one picks from)."""

    usage: Usage
    counts: dict[datetime, dict[int, int]]  # requests per bucket and status class, for the requests chart
    outcomes: dict[datetime, dict[str, int]]
    by_operation: list[OperationUsage]
    by_key: list[KeyUsage]
    by_client: list[KeyUsage]


def _mask(columns: list[str], grouping: tuple[str, ...]) -> int:
    """What GROUPING(<columns>) answers for a row of this grouping set: a 1 bit for each column summed away."""
    return sum(1 << (len(columns) - 1 - i) for i, name in enumerate(columns) if name not in grouping)


def _grouped(
    scope: dict[str, Any], groupings: tuple[tuple[str, ...], ...], summed: tuple[str, ...]
) -> dict[tuple[str, ...], list[dict]]:
    """The rollups in `scope` summed per each grouping: one query on PostgreSQL, one per grouping elsewhere."""
    if connection.vendor != "postgresql":
        rows = rollups_in(**scope)
        sums = {name: Sum(name) for name in summed}
        return {g: [dict(row) for row in rows.values(*g).annotate(**sums).order_by(*g)] for g in groupings}
    where = ["granularity = %s", "bucket >= %s", "bucket < %s"]
    params: list[Any] = [scope["granularity"], scope["start"], scope["end"]]
    for name in ("application_id", "api_id", "key_id", "client_id"):  # column names from here, never from input
        if name in scope:
            where.append(f"{name} = %s")
            params.append(scope[name])
    # SUM of a bigint is a numeric: cast back, so the counters arrive as ints, not Decimals.
    summed_sql = ", ".join(f"SUM({n})" + ("" if n == "latency_sum_ms" else "::bigint") + f" AS {n}" for n in summed)
    columns = [name for name in _COLUMNS if any(name in g for g in groupings)]
    sets = ", ".join(f"({', '.join(g)})" for g in groupings)
    sql = (
        f"SELECT GROUPING({', '.join(columns)}) AS grouping_set, {', '.join(columns)}, {summed_sql}"
        f" FROM {UsageRollup._meta.db_table} WHERE {' AND '.join(where)} GROUP BY GROUPING SETS ({sets})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        found = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    answer: dict[tuple[str, ...], list[dict]] = {}
    for g in groupings:
        mask = _mask(columns, g)
        answer[g] = sorted((row for row in found if row["grouping_set"] == mask), key=lambda r: [r[c] for c in g])
    return answer


def usage_page(
    *,
    application: Application,
    granularity: str,
    start: datetime,
    end: datetime,
    key_id: int | None = None,
    client_id: int | None = None,
) -> UsagePage:
    """The usage page's figures: one query over the rollups (two when narrowed to a key or client), then the
    application's keys, OAuth clients and the operations' API names."""
    window = {"granularity": granularity, "start": start, "end": end, "application_id": application.pk}
    narrow = narrowed(None, key_id, client_id)
    # Every aggregate of a query is computed for every grouping set, so the few counters of the status classes and
    # keys are summed apart from the histograms of the series and operations: two scans, a third of the additions.
    found = _grouped(window | narrow, (_SERIES, _OPERATIONS), _SUMS)
    if narrow:
        found |= _grouped(window | narrow, (_CLASSES,), _FEW) | _grouped(window, (_KEYS,), _FEW)
    else:
        found |= _grouped(window, (_CLASSES, _KEYS), _FEW)

    buckets = found[_SERIES]
    totals = {name: sum(row[name] or 0 for row in buckets) for name in _SUMMED}
    by_class: dict[int, int] = {}
    counts: dict[datetime, dict[int, int]] = {}
    for row in found[_CLASSES]:
        n = int(row["requests"] or 0)
        counts.setdefault(row["bucket"], {})[row["status_class"]] = n
        by_class[row["status_class"]] = by_class.get(row["status_class"], 0) + n
    usage = Usage(
        series=[_point(row["bucket"], row) for row in buckets],
        totals=_point(None, totals),
        by_status_class={f"{status_class}xx": by_class[status_class] for status_class in sorted(by_class)},
    )
    outcomes = outcomes_from(
        {"bucket": row["bucket"], "status_class": row["status_class"], "n": row["requests"],
         "auth": row["auth_failures"], "throttled": row["throttled"]}
        for row in found[_CLASSES]
    )  # fmt: skip

    operations: dict[tuple[int, str], dict[str, Any]] = {}
    for row in found[_OPERATIONS]:
        op = operations.setdefault(
            (row["api_id"], row["operation"]),
            {"api_id": row["api_id"], "operation": row["operation"], "n": 0, "n_4xx": None, "n_5xx": None,
             "n_denied": 0, **dict.fromkeys(LATENCY_FIELDS, 0)},
        )  # fmt: skip
        n = int(row["requests"] or 0)
        op["n"] += n
        op["n_denied"] += int(row["denied"] or 0)
        if row["status_class"] in (4, 5):
            op[f"n_{row['status_class']}xx"] = n
        for name in LATENCY_FIELDS:
            op[name] += int(row[name] or 0)

    by_key: dict[int, dict[str, Any]] = {}
    by_client: dict[int, dict[str, Any]] = {}
    for row in found[_KEYS]:
        for pk, table in ((row["key_id"], by_key), (row["client_id"], by_client)):
            sums = table.setdefault(pk, {"requests": 0, "errors": 0, "denied": 0})
            for name in ("requests", "errors", "denied"):
                sums[name] += int(row[name] or 0)
    by_client.pop(0, None)  # key traffic: no client
    return UsagePage(
        usage=usage,
        counts=counts,
        outcomes=outcomes,
        by_operation=operations_from(list(operations.values())),
        by_key=key_usage_rows(application, by_key),
        by_client=client_usage_rows(application, by_client),
    )
