"""Usage of an application's live and test keys apart (issue #15): test keys call the APIs' sandboxes, so their
traffic is shown beside the live traffic, never mixed into it, and never counted against a quota."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, Sum

from analytics.selectors import KeyUsage, rollups_in
from keys.models import ApiKey
from portal.models import Application

_COUNTS = ("requests", "errors", "denied")


@dataclass(frozen=True)
class EnvironmentUsage:
    """Requests, server errors and denials of one environment's keys over a range."""

    requests: int
    errors: int
    denied: int


@dataclass(frozen=True)
class UsageByEnvironment:
    live: EnvironmentUsage
    test: EnvironmentUsage
    test_key_ids: frozenset[int]  # the application's test keys, for labelling them in the per-key table


def _test_key_ids(application: Application) -> frozenset[int]:
    return frozenset(application.keys.filter(environment=ApiKey.Environment.TEST).values_list("id", flat=True))


def usage_by_environment(
    *, application: Application, granularity: str, start: datetime, end: datetime
) -> UsageByEnvironment:
    """Key traffic of the application in [start, end), live and test apart (OAuth clients are live). Two queries."""
    test_ids = _test_key_ids(application)
    is_test = Q(key_id__in=test_ids)
    sums = {}
    for name in _COUNTS:
        sums[f"test_{name}"] = Sum(name, filter=is_test)
        sums[f"live_{name}"] = Sum(name, filter=~is_test)
    row = rollups_in(granularity=granularity, start=start, end=end, application_id=application.pk).aggregate(**sums)

    def of(environment: str) -> EnvironmentUsage:
        return EnvironmentUsage(**{name: int(row[f"{environment}_{name}"] or 0) for name in _COUNTS})

    return UsageByEnvironment(live=of("live"), test=of("test"), test_key_ids=test_ids)


def keys_by_environment(*, application: Application, by_key: Iterable[KeyUsage]) -> UsageByEnvironment:
    """The same split for the usage page, from its per-key table: one query on the keys, none on the rollups."""
    test_ids = _test_key_ids(application)
    totals = {environment: dict.fromkeys(_COUNTS, 0) for environment in ("live", "test")}
    for row in by_key:
        counts = totals["test" if row.key_id in test_ids else "live"]
        for name in _COUNTS:
            counts[name] += getattr(row, name)
    return UsageByEnvironment(
        live=EnvironmentUsage(**totals["live"]), test=EnvironmentUsage(**totals["test"]), test_key_ids=test_ids
    )
