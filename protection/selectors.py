"""Reads of edge protection shared by the snapshot, the change feed and the admin."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q, Sum

from protection.models import ApiProtection, ValidationFinding


def edge_members_by_api(api_ids: Iterable[int] | None = None) -> dict[int, dict[str, Any]]:
    """The snapshot members of each API with edge protection on, in one query.

    "validation" (mode, compiled operations, digest) when validation is on with a compiled document, "signatures"
    ("report" or "enforce") when signatures are on.
    """
    rows = ApiProtection.objects.exclude(
        Q(signatures_mode=ApiProtection.SignaturesMode.OFF)
        & (Q(validation_mode=ApiProtection.Mode.OFF) | Q(compiled__isnull=True))
    )
    if api_ids is not None:
        rows = rows.filter(api_id__in=list(api_ids))
    members: dict[int, dict[str, Any]] = {}
    fields = ("api_id", "validation_mode", "compiled_digest", "compiled", "signatures_mode")
    for api_id, mode, digest, compiled, signatures in rows.values_list(*fields):
        entry = members[api_id] = {}
        if mode != ApiProtection.Mode.OFF and compiled is not None:
            entry["validation"] = {"mode": mode, "digest": digest, "ops": compiled.get("ops", [])}
        if signatures != ApiProtection.SignaturesMode.OFF:
            entry["signatures"] = signatures
    return members


def findings_summary(*, api_id: int, now: datetime, limit: int = 50) -> list[dict[str, Any]]:
    """Report mode's findings for one API: per operation, cause, rule and pointer, counts over 24 hours and 7 days."""
    day, week = now - timedelta(hours=24), now - timedelta(days=7)
    rows = (
        ValidationFinding.objects.filter(api_id=api_id, hour__gte=week)
        .values("operation", "cause", "rule", "pointer")
        .annotate(week=Sum("count"), day=Sum("count", filter=Q(hour__gte=day)))
        .order_by("-week", "operation", "pointer")[:limit]
    )
    return [{**row, "day": row["day"] or 0} for row in rows]
