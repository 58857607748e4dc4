"""Reads of an organisation's usage across all its applications (the organisation usage page and its REST twin).

Rollups carry the organisation id they were counted under, so one indexed range scan per query covers every
application, including deleted ones (their usage stays readable, as the model says).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Sum

from analytics.selectors import Usage, rollups_in, status_classes_of, usage_of
from portal.models import Application, Organisation


@dataclass
class ApplicationUsage:
    """One application's share of its organisation's usage over a range."""

    application_id: int
    name: str
    exists: bool
    requests: int
    errors: int
    denied: int

    @property
    def error_rate(self) -> float:
        """5xx answers per request, as a percentage (0 without traffic)."""
        return 100.0 * self.errors / self.requests if self.requests else 0.0


@dataclass
class OrganisationUsage:
    """The organisation's usage over a range, its chart's counts and the per-application table."""

    usage: Usage
    counts: dict[datetime, dict[int, int]]
    applications: list[ApplicationUsage]


def usage_for_organisation(
    *, organisation: Organisation, granularity: str, start: datetime, end: datetime
) -> OrganisationUsage:
    """All the organisation's applications in [start, end): totals, a series, and a row per application (every
    current application, and deleted ones that had traffic), busiest first. Five queries."""
    rows = rollups_in(granularity=granularity, start=start, end=end, organisation_id=organisation.pk)
    sums = {
        row["application_id"]: row
        for row in rows.values("application_id")
        .annotate(requests=Sum("requests"), errors=Sum("errors"), denied=Sum("denied"))
        .order_by("application_id")
    }
    names = dict(Application.objects.filter(organisation=organisation).values_list("pk", "name"))
    applications = []
    for application_id in sorted(set(names) | (set(sums) - {0})):
        row: dict[str, Any] = dict(sums.get(application_id) or {})
        applications.append(
            ApplicationUsage(
                application_id=application_id,
                name=names.get(application_id, f"Deleted application #{application_id}"),
                exists=application_id in names,
                requests=int(row.get("requests") or 0),
                errors=int(row.get("errors") or 0),
                denied=int(row.get("denied") or 0),
            )
        )
    applications.sort(key=lambda a: (-a.requests, a.name))
    return OrganisationUsage(usage=usage_of(rows), counts=status_classes_of(rows), applications=applications)
