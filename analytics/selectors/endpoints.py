"""Reads of an application's usage by endpoint (API operation) and its outcomes over time, from the rollups.

The operation is a rollup dimension counted at ingest (analytics.services.operations): "GET /users/{id}", "other"
for requests of an API matching none of its operations, "" for traffic without an API or counted before
operations were. Callers scope first (portal.selectors.application_get), as for the other usage reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q, Sum

from analytics.models import LATENCY_FIELDS, OPERATION_NONE, OPERATION_OTHER
from analytics.selectors import narrowed, rollups_in, usage_percentiles
from portal.models import Api, Application

# The outcome chart's categories, stacked bottom-up: (key, label). The few 1xx and 3xx answers count with 2xx (the
# chart says so); 4xx is split into authentication refusals (401/403), rate limits (429) and the rest.
OUTCOMES: tuple[tuple[str, str], ...] = (
    ("ok", "2xx"),
    ("client", "4xx other"),
    ("auth", "401/403"),
    ("throttled", "429"),
    ("server", "5xx"),
)


@dataclass
class OperationUsage:
    """One operation's traffic in a range: requests, 4xx and 5xx answers, denials and latency."""

    api_id: int
    api_name: str
    operation: str
    requests: int = 0
    client_errors: int = 0  # 4xx
    server_errors: int = 0  # 5xx
    denied: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * len(LATENCY_FIELDS))

    @property
    def method(self) -> str:
        """The HTTP method of a matched operation, "" for "other" and unmatched rows."""
        method, _, template = self.operation.partition(" ")
        return method if template else ""

    @property
    def template(self) -> str:
        """The OpenAPI path template of a matched operation, "" for "other" and unmatched rows."""
        return self.operation.partition(" ")[2]

    @property
    def label(self) -> str:
        """How a person reads the row."""
        if self.operation == OPERATION_OTHER:
            return "Other (matches no operation)"
        if self.operation == OPERATION_NONE:
            return "Not matched (no API, or counted before endpoints were)"
        return self.operation

    @property
    def error_rate(self) -> float:
        """4xx and 5xx answers per request, as a percentage (0 without traffic)."""
        return 100.0 * (self.client_errors + self.server_errors) / self.requests if self.requests else 0.0

    @property
    def percentiles(self) -> dict[str, float | None]:
        return usage_percentiles(self.histogram)


def usage_by_operation(
    *,
    application: Application,
    granularity: str,
    start: datetime,
    end: datetime,
    api_id: int | None = None,
    key_id: int | None = None,
    client_id: int | None = None,
) -> list[OperationUsage]:
    """Each operation the application called in [start, end), optionally of one API, key or OAuth client, busiest
    first; "other" and unmatched rows last. Two queries (the rollups, then the APIs' names)."""
    scope = {"application_id": application.pk, **narrowed(api_id, key_id, client_id)}
    rows = (
        rollups_in(granularity=granularity, start=start, end=end, **scope)
        .values("api_id", "operation")
        .annotate(
            # Named apart from the columns: an annotation called `requests` would hide the column from the next Sum.
            n=Sum("requests"),
            n_4xx=Sum("requests", filter=Q(status_class=4)),
            n_5xx=Sum("requests", filter=Q(status_class=5)),
            n_denied=Sum("denied"),
            **{name: Sum(name) for name in LATENCY_FIELDS},
        )
        .order_by("api_id", "operation")
    )
    return operations_from([dict(row) for row in rows])


def operations_from(found: list[dict[str, Any]]) -> list[OperationUsage]:
    """OperationUsage rows, in the table's order, from sums per (api_id, operation): n, n_4xx, n_5xx, n_denied and
    the latency histogram. One query (the APIs' names)."""
    names = dict(Api.objects.filter(pk__in={row["api_id"] for row in found}).values_list("pk", "name"))
    answer = []
    for row in found:
        api = row["api_id"]
        answer.append(
            OperationUsage(
                api_id=api,
                api_name=names.get(api, "No API" if not api else f"Deleted API #{api}"),
                operation=row["operation"],
                requests=int(row["n"] or 0),
                client_errors=int(row["n_4xx"] or 0),
                server_errors=int(row["n_5xx"] or 0),
                denied=int(row["n_denied"] or 0),
                histogram=[int(row[name] or 0) for name in LATENCY_FIELDS],
            )
        )
    unmatched = (OPERATION_OTHER, OPERATION_NONE)
    return sorted(answer, key=lambda o: (o.operation in unmatched, -o.requests, o.api_name, o.operation))


def outcomes_over_time(
    *,
    application: Application,
    granularity: str,
    start: datetime,
    end: datetime,
    key_id: int | None = None,
    client_id: int | None = None,
) -> dict[datetime, dict[str, int]]:
    """Requests per bucket and outcome (OUTCOMES) of one application in [start, end), optionally of one key or
    client: one query. Rollups counted before the 401/403 and 429 counters existed show those answers as "4xx other"."""
    scope = {"application_id": application.pk, **narrowed(None, key_id, client_id)}
    rows = (
        rollups_in(granularity=granularity, start=start, end=end, **scope)
        .values("bucket", "status_class")
        .annotate(n=Sum("requests"), auth=Sum("auth_failures"), throttled=Sum("throttled"))
        .order_by("bucket", "status_class")
    )
    return outcomes_from(rows)


def outcomes_from(rows: Iterable[Mapping[str, Any]]) -> dict[datetime, dict[str, int]]:
    """Requests per bucket and outcome from sums per (bucket, status_class): n, auth and throttled."""
    answer: dict[datetime, dict[str, int]] = {}
    for row in rows:
        counts = answer.setdefault(row["bucket"], dict.fromkeys((key for key, _ in OUTCOMES), 0))
        n, status_class = int(row["n"] or 0), row["status_class"]
        if status_class == 5:
            counts["server"] += n
        elif status_class == 4:
            auth, throttled = int(row["auth"] or 0), int(row["throttled"] or 0)
            counts["auth"] += auth
            counts["throttled"] += throttled
            counts["client"] += n - auth - throttled
        else:
            counts["ok"] += n
    return answer
