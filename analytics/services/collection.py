"""Collecting access-log batches from a gateway: fetch after the cursor, ingest, commit, then acknowledge.

Acknowledging only after the commit means a crash anywhere leaves the batches readable at the gateway, and
the unique (gateway, sequence) of IngestedBatch makes the re-read harmless (docs/gateway-protocol.md §6).
The gateway row's cursor and latest error are gateway_sync's: they are written through its services.
"""

from __future__ import annotations

import hmac
import logging
import re
from dataclasses import dataclass
from typing import Any

import requests
from django.db import transaction

from analytics.models import IngestedBatch
from analytics.services.ingest import InvalidBatch, batches_ingest
from gateway_sync.admin_client import GatewayAdminClient, usable_offset
from gateway_sync.models import Gateway
from gateway_sync.secrets import decrypt
from gateway_sync.services import (
    gateway_clock_record,
    gateway_error_record,
    gateway_log_cursor_advance,
    gateway_log_cursor_reset,
)

logger = logging.getLogger(__name__)

_DIGEST = re.compile(r"[0-9a-f]{64}")


class CollectionFailed(Exception):
    """The gateway could not be read, or answered something that is not a log page."""


@dataclass
class CollectResult:
    """What one collection run did."""

    batches: int = 0
    duplicates: int = 0
    records: int = 0
    rejected: int = 0
    skipped: int = 0
    cursor: int = 0
    busy: bool = False  # another worker holds this gateway


def _page(client: GatewayAdminClient, after: int, limit: int) -> list[dict[str, Any]]:
    try:
        response = client.request("GET", f"/_portico/logs?after={after}&limit={limit}")
        response.raise_for_status()
        doc = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise CollectionFailed(f"reading logs failed: {exc}") from exc
    batches = doc.get("batches") if isinstance(doc, dict) else None
    if not isinstance(batches, list):
        raise CollectionFailed("the log page has no list of batches")
    return batches


def _ack(client: GatewayAdminClient, sequence: int) -> None:
    """Best effort: an ack that gets lost only delays the gateway's spool cleanup until the next one."""
    try:
        client.request("POST", "/_portico/logs/ack", {"sequence": sequence}).raise_for_status()
    except requests.RequestException as exc:
        logger.warning("log ack %s failed: %s", sequence, exc)


def _sequence_of(batch: Any) -> int:
    sequence = batch.get("sequence") if isinstance(batch, dict) else None
    if type(sequence) is not int:
        raise InvalidBatch("a batch without an integer sequence")
    return sequence


def _digest_of(batch: dict[str, Any]) -> str:
    """The gateway's SHA-256 of the batch's records (hex), or "" when it sent none in that form."""
    digest = batch.get("digest")
    return digest if isinstance(digest, str) and _DIGEST.fullmatch(digest) else ""


def _ingest_page(
    gateway_id: int, cursor: int, batches: list[dict[str, Any]], result: CollectResult, clock_offset: float = 0.0
) -> int | None:
    """Ingest one page under the gateway's row lock; returns the new cursor, or None if another worker has it.

    `clock_offset` (the gateway's clock minus ours) moves the page's event times to the platform's clock.
    """
    with transaction.atomic():
        gateway = Gateway.objects.select_for_update(skip_locked=True).filter(pk=gateway_id).first()
        if gateway is None:
            return None
        if gateway.log_cursor != cursor:  # another run got here first; go round again from its cursor
            return gateway.log_cursor
        last, page, skipped = cursor, [], []
        for batch in sorted(batches, key=_sequence_of):
            sequence = _sequence_of(batch)
            if sequence <= last:
                continue  # at or below the cursor: already counted
            page.append(batch)
            skipped.append(sequence - last - 1)
            last = sequence
        ingested_page = batches_ingest(
            gateway_id=gateway_id, batches=page, skipped_before=skipped, clock_offset=clock_offset
        )
        for ingested in ingested_page:
            result.batches += 1
            result.duplicates += ingested.duplicate
            result.records += ingested.records
            result.rejected += ingested.rejected
        result.skipped += sum(skipped)
        digest = _digest_of(page[-1]) if page else gateway.log_cursor_digest
        gateway_log_cursor_advance(gateway_id=gateway_id, cursor=last, digest=digest)
    return last


def _spool_state(client: GatewayAdminClient) -> dict[str, Any] | None:
    """The gateway's log spool state from its status page (`sequence`, `acked`), or None when unreadable."""
    try:
        log = client.session.get(client.base_url + "/_portico/status", timeout=client.timeout).json()["log"]
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return None
    return log if isinstance(log, dict) and type(log.get("acked")) is int else None


def _spool_restarted(client: GatewayAdminClient, gateway: Gateway) -> bool:
    """Whether the gateway's spool started over below our cursor (wiped disk, new machine under the same name).

    It only matters when the gateway has not acknowledged our cursor: then either our ack was lost or met a busy
    spool (its batch `cursor` is the one we stored), or the spool is new. Only what the gateway owns decides:
    its sequence, and its digest of batch `cursor` against the one stored with the cursor. Without both digests
    there is no proof of a restart, and the ack is repeated: dropping our batch records on a guess would count
    the spool twice.
    """
    cursor = gateway.log_cursor
    state = _spool_state(client)
    if state is None or state["acked"] >= cursor:
        return False
    if type(state.get("sequence")) is int and state["sequence"] < cursor:
        return True
    batches = _page(client, cursor - 1, 1)
    if not batches or _sequence_of(batches[0]) != cursor:
        return False  # that batch is gone (dropped by the spool's bound): nothing to compare, nothing to ack
    digest = _digest_of(batches[0])
    if gateway.log_cursor_digest and digest and not hmac.compare_digest(digest, gateway.log_cursor_digest):
        return True
    _ack(client, cursor)  # same batch: our ack was lost, so repeat it
    return False


def _restart_cursor(gateway_id: int, cursor: int) -> bool:
    """The gateway's spool started over (wiped, or a new machine under the same name): collect it from its start.

    Our batch records only guard sequences above the cursor, which that gateway will now reuse, so they go.
    """
    with transaction.atomic():
        gateway = Gateway.objects.select_for_update(skip_locked=True).filter(pk=gateway_id, log_cursor=cursor).first()
        if gateway is None:
            return False
        IngestedBatch.objects.filter(gateway_id=gateway_id).delete()
        message = f"log sequence restarted at the gateway (below {cursor}); collecting from its start"
        gateway_log_cursor_reset(gateway_id=gateway_id, reason=message)
    logger.warning("gateway %s: %s", gateway_id, message)
    return True


def gateway_logs_collect(*, gateway_id: int, limit: int, rounds: int) -> CollectResult:
    """Collect up to `rounds` pages of `limit` batches from one gateway, committing and acking page by page."""
    result = CollectResult()
    gateway = Gateway.objects.filter(pk=gateway_id, enabled=True).first()
    if gateway is None:
        return result
    client = GatewayAdminClient(
        gateway.admin_url, decrypt(gateway.push_secret_encrypted), clock_offset=gateway.clock_offset
    )
    cursor = result.cursor = gateway.log_cursor
    try:
        if cursor > 0 and _spool_restarted(client, gateway):
            if not _restart_cursor(gateway_id, cursor):
                return result
            cursor = result.cursor = 0
        for _ in range(rounds):
            batches = _page(client, cursor, limit)
            if not batches:
                break
            # The page's own `Date` tells the gateway's clock now: its events are moved by that much.
            offset = client.measured_offset if client.measured_offset is not None else gateway.clock_offset
            new_cursor = _ingest_page(gateway_id, cursor, batches, result, usable_offset(offset))
            if new_cursor is None:
                result.busy = True
                break
            if new_cursor > cursor:
                _ack(client, new_cursor)
            cursor = result.cursor = new_cursor
            if len(batches) < limit:
                break
    except (CollectionFailed, InvalidBatch) as exc:
        gateway_error_record(gateway_id=gateway_id, error=str(exc))
        logger.warning("log collection from gateway %s stopped: %s", gateway.name, exc)
    if client.measured_offset is not None:
        gateway_clock_record(gateway=gateway, offset=client.measured_offset)
    if result.skipped:
        logger.warning("gateway %s: %d log batches were lost before collection", gateway.name, result.skipped)
    return result
