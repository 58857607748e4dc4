"""Reads of edge protection shared by the snapshot, the change feed and the admin."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q, Sum

from protection.models import ApiProtection, ValidationFinding


def validators_by_api(api_ids: Iterable[int] | None = None) -> dict[int, dict[str, Any]]:
    """What gateways enforce per API id: mode, compiled operations and digest, for APIs whose validation is on."""
    rows = ApiProtection.objects.exclude(validation_mode=ApiProtection.Mode.OFF).filter(compiled__isnull=False)
    if api_ids is not None:
        rows = rows.filter(api_id__in=list(api_ids))
    return {
        api_id: {"mode": mode, "digest": digest, "ops": (compiled or {}).get("ops", [])}
        for api_id, mode, digest, compiled in rows.values_list(
            "api_id", "validation_mode", "compiled_digest", "compiled"
        )
    }


def signatures_by_api(api_ids: Iterable[int] | None = None) -> dict[int, str]:
    """The attack signatures mode per API id ("report" or "enforce"), for APIs where it is not off."""
    rows = ApiProtection.objects.exclude(signatures_mode=ApiProtection.SignaturesMode.OFF)
    if api_ids is not None:
        rows = rows.filter(api_id__in=list(api_ids))
    return dict(rows.values_list("api_id", "signatures_mode"))


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
