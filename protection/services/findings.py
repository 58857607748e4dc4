"""Report mode's findings, counted at ingest in the ingest's own transaction (so exactly once per batch)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from django.db import connection

_CAPS = (200, 40, 40, 200)  # ValidationFinding: operation, cause, rule, pointer
_UPSERT = (
    "INSERT INTO protection_validationfinding AS f (api_id, hour, operation, cause, rule, pointer, count) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (api_id, hour, operation, cause, rule, pointer) "
    "DO UPDATE SET count = f.count + EXCLUDED.count"
)
MAX_ROWS_PER_BATCH = 1000  # distinct findings per batch: beyond, a client spraying field names is counted no more


def finding_parse(value: object) -> tuple[str, str, str, str] | None:
    """A record's "vf" field (cause|operation|rule|pointer, gateway/lua/portico/validate.lua) or None if malformed."""
    if type(value) is not str:
        return None
    parts = value.split("|", 3)
    if len(parts) != 4:
        return None
    cause, operation, rule, pointer = parts
    fields = [operation, cause, rule, pointer]
    if not all(f.isprintable() and len(f) <= cap for f, cap in zip(fields, _CAPS, strict=True)):
        fields = [_clean(f, cap) for f, cap in zip(fields, _CAPS, strict=True)]
    return fields[0], fields[1], fields[2], fields[3]


def _clean(text: str, cap: int) -> str:
    """Printable, encodable and within its column: a pointer holds names a client chose."""
    return "".join(c for c in text if c.isprintable()).encode("utf-8", "replace").decode()[:cap]


def findings_count(findings: Iterable[tuple[int, float, tuple[str, str, str, str]]]) -> int:
    """Adds (api id, epoch seconds, parsed finding) to the hourly counts; returns how many rows it touched."""
    counts: dict[tuple[int, datetime, str, str, str, str], int] = {}
    for api_id, t, (operation, cause, rule, pointer) in findings:
        hour = datetime.fromtimestamp(t - t % 3600, tz=UTC)
        key = (api_id, hour, operation, cause, rule, pointer)
        if key in counts or len(counts) < MAX_ROWS_PER_BATCH:
            counts[key] = counts.get(key, 0) + 1
    if not counts:
        return 0
    rows = [(*key, n) for key, n in counts.items()]
    with connection.cursor() as cursor:
        cursor.executemany(_UPSERT, rows)
    return len(rows)
