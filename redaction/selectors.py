"""Reads of redaction rules: the compact form gateways receive with each API, and the rules ingest applies."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from redaction.detectors import Rules
from redaction.models import RedactionPolicy


def _entry(policy: RedactionPolicy) -> dict[str, Any]:
    return {
        "names": policy.names(),
        "cards": policy.detect_cards,
        "national_ids": policy.detect_national_ids,
        "emails": policy.detect_emails,
        "responses": policy.redact_responses,
    }


def edge_entries(api_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The `redaction` member of each API's snapshot entry, for the APIs that have rules (one query)."""
    policies = RedactionPolicy.objects.filter(api_id__in=list(api_ids)).order_by("api_id")
    return {policy.api_id: _entry(policy) for policy in policies}


def rules_for(api_ids: Iterable[int]) -> dict[int, Rules]:
    """Compiled rules by API id, for the APIs that have any (one query)."""
    return {
        api_id: Rules(
            names=frozenset(entry["names"]),
            cards=entry["cards"],
            national_ids=entry["national_ids"],
            emails=entry["emails"],
        )
        for api_id, entry in edge_entries(api_ids).items()
    }


def rules_all() -> dict[int, Rules]:
    """Every API's compiled rules (one query over a table with a row per API that has rules)."""
    return rules_for(RedactionPolicy.objects.values_list("api_id", flat=True))
