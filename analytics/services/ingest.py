"""Exactly-once ingest of gateway access-log batches (docs/gateway-protocol.md §6).

A page of batches is one transaction: claim each `(gateway, sequence)` in IngestedBatch (a batch seen before
stops there), check the records as hostile input (analytics.services.records), store them as events (COPY on
PostgreSQL, analytics.services.events), add them to the minute, hour and day rollups by the operation of the API
they called (analytics.services.rollups, analytics.services.operations) and to the quota counters with additive
upserts, move keys' `last_used_at`, then check quotas. A batch delivered twice, out of order or redelivered
after a killed worker is therefore counted exactly once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from analytics.models import IngestedBatch, QuotaUsage
from analytics.services import quota
from analytics.services.events import events_encode, events_write
from analytics.services.operations import Matcher, operation_matchers
from analytics.services.records import (
    MAX_ID,
    Checked,
    Identity,
    Resolved,
    identities_lookup,
    identity_resolve,
    records_check,
)
from analytics.services.rollups import MinuteCounts, minutes_group, rollups_count, rollups_write
from keys.models import ApiKey
from keys.services.clients import TEST_CLIENT_ID_PREFIX
from keys.tokens import BRAND
from protection.services.findings import finding_parse, findings_count
from redaction.detectors import Rules, mask_url
from redaction.selectors import rules_all

_DAY = 86_400  # seconds
# a test key's or test OAuth client's logged prefix (keys/tokens.py, keys/services/clients.py): their traffic is
# metered, never counted against the live quota
_TEST_PREFIXES = (f"{BRAND}_test_", TEST_CLIENT_ID_PREFIX)

QUOTA_UPSERT = (
    f"INSERT INTO {QuotaUsage._meta.db_table} (subscription_id, period, start, used) VALUES (%s, %s, %s, %s) "
    f"ON CONFLICT (subscription_id, period, start) DO UPDATE SET used = {QuotaUsage._meta.db_table}.used + "
    "excluded.used"
)
KEY_LAST_USED = (
    f"UPDATE {ApiKey._meta.db_table} SET last_used_at = %s "
    "WHERE id = %s AND (last_used_at IS NULL OR last_used_at < %s)"
)


class InvalidBatch(ValueError):
    """The batch envelope itself is unusable (no integer sequence): it cannot be counted, nor skipped safely."""


@dataclass
class IngestResult:
    """What one batch_ingest call did."""

    sequence: int
    duplicate: bool = False
    records: int = 0
    rejected: int = 0
    sanitised: int = 0


def _sequence(batch: Any) -> int:
    sequence = batch.get("sequence") if isinstance(batch, dict) else None
    if type(sequence) is not int or not 0 < sequence <= MAX_ID:
        raise InvalidBatch("a batch must be a JSON object with a positive integer sequence")
    return sequence


def _claim(gateway_id: int, claims: list[tuple[int, int]], now: datetime) -> set[int]:
    """Insert the batch records; returns the sequences that were new (the others were counted before)."""
    when = connection.ops.adapt_datetimefield_value(now)
    values = ", ".join(["(%s, %s, 0, 0, 0, %s, %s)"] * len(claims))
    params: list[Any] = []
    for sequence, skipped in claims:
        params += [gateway_id, sequence, skipped, when]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {IngestedBatch._meta.db_table} (gateway_id, sequence, records, rejected, sanitised, "
            f"skipped_before, ingested_at) VALUES {values} ON CONFLICT (gateway_id, sequence) DO NOTHING "
            "RETURNING sequence",
            params,
        )
        return {row[0] for row in cursor.fetchall()}


def batch_ingest(*, gateway_id: int, batch: Any, skipped_before: int = 0, now: datetime | None = None) -> IngestResult:
    """Count one access-log batch exactly once: events, rollups, last use of keys, quota counters and blocks."""
    return batches_ingest(gateway_id=gateway_id, batches=[batch], skipped_before=[skipped_before], now=now)[0]


def batches_ingest(
    *,
    gateway_id: int,
    batches: Sequence[Any],
    skipped_before: Sequence[int] | None = None,
    now: datetime | None = None,
    clock_offset: float = 0.0,
) -> list[IngestResult]:
    """Count a page of batches exactly once in one transaction (one COPY and one rollup upsert for all of them).

    `clock_offset` is the gateway's clock minus ours: its events are stored and counted at the platform's time.
    """
    sequences = [_sequence(batch) for batch in batches]
    if not sequences:
        return []
    skipped = list(skipped_before) if skipped_before is not None else [0] * len(sequences)
    now = now or timezone.now()
    claims = list(dict(zip(sequences, skipped, strict=True)).items())
    with transaction.atomic():
        fresh = _claim(gateway_id, claims, now)
        results, work = [], []
        for sequence, batch in zip(sequences, batches, strict=True):
            result = IngestResult(sequence=sequence, duplicate=sequence not in fresh)
            fresh.discard(sequence)  # a sequence repeated inside the page counts once too
            results.append(result)
            if not result.duplicate:
                work.append((result, batch.get("records")))
        if work:
            _ingest_records(gateway_id, work, now, clock_offset)
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"UPDATE {IngestedBatch._meta.db_table} SET records = %s, rejected = %s, sanitised = %s "
                    "WHERE gateway_id = %s AND sequence = %s",
                    [(r.records, r.rejected, r.sanitised, gateway_id, r.sequence) for r, _ in work],
                )
    return results


@dataclass
class _Page:
    """What the passes over a page's records gather, keyed by identity until the identities are resolved."""

    lines: dict[Identity, list[Any]]  # COPY text lines without the identity's columns (rows off PostgreSQL)
    minutes: MinuteCounts
    admitted: dict[tuple[Identity, int], int]  # (identity, UTC day number) -> requests let through
    last_seen: dict[Identity, float]  # identity -> newest event time


def _use_count(page: _Page, checked: list[Checked]) -> None:
    """Add one batch's checked records to the page's admitted requests and its keys' last use, by identity.

    This loop runs for every event. Identities are counted whether or not they name a subscription or a key
    prefix: those without a known one drop out once resolved.
    """
    admitted, last_seen = page.admitted, page.last_seen
    for _, t, _, _, _, _, _, _, _, _, _, lim, _, identity in checked:
        if last_seen.get(identity, 0.0) < t:
            last_seen[identity] = t
        if lim == "ok":
            day = (identity, int(t) // _DAY)  # t > 0, so this is the UTC day number
            admitted[day] = admitted.get(day, 0) + 1


def _redact(records: list[Checked], rules: dict[int, Rules]) -> None:
    """Paths masked by their API's redaction rules before anything is stored: a gateway on an older config (or
    one that logged before the rules reached it) cannot leak into the database (docs/redaction.md)."""
    if rules:
        for i, r in enumerate(records):
            api_rules = rules.get(r[13][0]) if r[13][0] is not None else None
            if api_rules is not None:
                records[i] = r[:9] + (mask_url(r[9], api_rules),) + r[10:]


def _ingest_records(gateway_id: int, work: list[tuple[IngestResult, Any]], now: datetime, shift: float) -> None:
    """Check, encode and count the new batches' records, then write events, rollups, quota counters and key use."""
    now_ts = now.timestamp()
    lo = now_ts - settings.PORTICO_USAGE_MAX_EVENT_AGE_DAYS * _DAY
    text = connection.vendor == "postgresql"
    page = _Page(lines={}, minutes={}, admitted={}, last_seen={})
    clean: list[dict[Identity, int]] = []  # per batch: records with nothing repaired yet, by identity
    matchers: dict[int, Matcher] = {}
    asked: set[int | None] = {None}  # API ids whose matchers were looked up for this page
    findings: list[tuple[Identity, float, Any]] = []  # report mode's validation findings (docs/protection.md)
    redaction_rules = rules_all()
    for result, records in work:
        checked = records_check(records, lo=lo, now=now_ts, shift=shift)
        _redact(checked.records, redaction_rules)
        events_encode(page.lines, checked.records, gateway_id=gateway_id, sequence=result.sequence, text=text)
        apis = {r[13][0] for r in checked.records} - asked  # the identity's API id, as logged
        if apis:
            matchers.update(operation_matchers([api for api in apis if api is not None]))
            asked |= apis
        rollups_count(page.minutes, checked.records, matchers)
        _use_count(page, checked.records)
        result.records, result.rejected = len(checked.records), checked.refused
        result.sanitised = checked.repaired  # plus the records whose ids are corrected, once the ids are checked
        clean.append(checked.clean)
        if checked.findings:
            findings.extend(checked.findings)
    known = identities_lookup(page.lines.keys())
    resolved = {identity: identity_resolve(identity, known) for identity in page.lines}
    for (result, _), batch_clean in zip(work, clean, strict=True):
        result.sanitised += sum(n for identity, n in batch_clean.items() if resolved[identity].repaired)

    minutes = minutes_group(page.minutes, resolved)
    admitted: dict[tuple[int, str, date], int] = defaultdict(int)
    days: dict[int, tuple[date, date]] = {}
    for (identity, day_number), n in page.admitted.items():
        sub = resolved[identity].sub
        if sub is None or identity[5].startswith(_TEST_PREFIXES):
            continue  # test keys' requests (issue #15) are counted by the gateways apart, never against the quota
        periods = days.get(day_number)
        if periods is None:
            day = date(1970, 1, 1) + timedelta(days=day_number)
            periods = days[day_number] = (day, day.replace(day=1))
        admitted[(sub, QuotaUsage.Period.DAY, periods[0])] += n
        admitted[(sub, QuotaUsage.Period.MONTH, periods[1])] += n
    last_used: dict[int, float] = {}
    for identity, t in page.last_seen.items():
        key_id = resolved[identity].key_id
        if key_id is not None and last_used.get(key_id, 0.0) < t:
            last_used[key_id] = t

    if page.lines:
        events_write(page.lines, resolved)
        rollups_write(minutes)
    if admitted:
        _write_quota_usage(admitted)
    if last_used:
        _write_last_used(last_used)
    if findings:
        _count_findings(findings, resolved)
    if admitted:
        quota.quota_evaluate(subscription_ids=sorted({sub for sub, _, _ in admitted}), now=now)


def _count_findings(findings: list[tuple[Identity, float, Any]], resolved: dict[Identity, Resolved]) -> None:
    """Report mode's findings into protection's hourly counts, for APIs that exist (the ids as resolved)."""
    parsed = []
    for identity, t, value in findings:
        api, finding = resolved[identity].api, finding_parse(value)
        if api is not None and finding is not None:
            parsed.append((api, t, finding))
    findings_count(parsed)


def _write_last_used(last_used: dict[int, float]) -> None:
    """last_used_at = max(stored, newest event) per key; rows are locked in id order so ingests cannot deadlock."""
    ids = sorted(last_used)
    table = ApiKey._meta.db_table
    if connection.vendor == "postgresql":
        times = [datetime.fromtimestamp(last_used[key_id], UTC) for key_id in ids]
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id FROM {table} WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE", [ids])
            cursor.execute(
                f"UPDATE {table} AS k SET last_used_at = v.t FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, t) "
                "WHERE k.id = v.id AND (k.last_used_at IS NULL OR k.last_used_at < v.t)",
                [ids, times],
            )
        return
    adapt = connection.ops.adapt_datetimefield_value
    params = []
    for key_id in ids:
        when = adapt(datetime.fromtimestamp(last_used[key_id], UTC))
        params.append((when, key_id, when))
    with connection.cursor() as cursor:
        cursor.executemany(KEY_LAST_USED, params)


def _write_quota_usage(admitted: dict[tuple[int, str, date], int]) -> None:
    rows = sorted(admitted.items())
    if connection.vendor == "postgresql":
        table = QuotaUsage._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (subscription_id, period, start, used) "
                "SELECT * FROM unnest(%s::bigint[], %s::varchar[], %s::date[], %s::bigint[]) ORDER BY 1, 2, 3 "
                f"ON CONFLICT (subscription_id, period, start) DO UPDATE SET used = {table}.used + excluded.used",
                [[k[0] for k, _ in rows], [str(k[1]) for k, _ in rows], [k[2] for k, _ in rows], [n for _, n in rows]],
            )
        return
    adapt = connection.ops.adapt_datefield_value
    params = [(sub, str(period), adapt(start), used) for (sub, period, start), used in rows]
    with connection.cursor() as cursor:
        cursor.executemany(QUOTA_UPSERT, params)
