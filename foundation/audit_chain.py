"""The audit trail's hash chains: appending under a lock, and checking every link.

Every event is a link of the global chain and, when it belongs to an organisation, of that organisation's chain.
Its hash covers its stored fields and both predecessors, so altering, removing or inserting a row breaks a link;
the chain heads hold the newest link, so removing the newest rows shows as well. Audit rows are never pruned.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from django.db import transaction

from foundation.models import AuditChainHead, AuditEvent

GLOBAL = "global"
GENESIS = ""  # the predecessor hash of a chain's first entry
HASH_FORMAT = 1  # part of every hashed payload, so a future change of the recipe can tell old entries apart
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_STORED_FIELDS = (
    "actor_id",
    "actor_label",
    "organisation_id",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "ip_address",
    "user_agent",
    "data",
    "seq",
    "prev_hash",
    "org_seq",
    "org_prev_hash",
)


def org_chain(organisation_id: int) -> str:
    """The name of an organisation's chain (its head row's key)."""
    return f"org:{organisation_id}"


def entry_hash(event: AuditEvent) -> str:
    """SHA-256 of the event's canonical form: sorted-key JSON of its stored fields, UTC time to the microsecond."""
    payload: dict[str, Any] = {name: getattr(event, name) for name in _STORED_FIELDS}
    payload["created_at"] = event.created_at.astimezone(UTC).strftime(TIMESTAMP_FORMAT)
    payload["format"] = HASH_FORMAT
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def normalise(event: AuditEvent) -> None:
    """Give the fields the form the database will hand back, so the hash computed now matches a re-read."""
    event.data = json.loads(json.dumps(event.data))  # tuples become lists, keys strings
    event.ip_address = AuditEvent._meta.get_field("ip_address").get_prep_value(event.ip_address) or None
    event.created_at = event.created_at.astimezone(UTC)


def _locked_head(chain: str) -> AuditChainHead:
    """The chain's head row, locked until the transaction ends (created at the chain's first entry)."""
    head = AuditChainHead.objects.select_for_update().filter(chain=chain).first()
    if head is None:
        # Two first appends may race here: the loser's insert waits for the winner's, then does nothing.
        AuditChainHead.objects.bulk_create([AuditChainHead(chain=chain)], ignore_conflicts=True)
        head = AuditChainHead.objects.select_for_update().get(chain=chain)
    return head


def chain_append(event: AuditEvent) -> AuditEvent:
    """Link an unsaved event into its chains and insert it.

    Every append locks the global head first (then its organisation's), so two writers never get the same
    predecessor; the lock lasts until the caller's transaction commits, which also makes commits follow seq order.
    """
    normalise(event)
    with transaction.atomic():
        head = _locked_head(GLOBAL)
        org_head = _locked_head(org_chain(event.organisation_id)) if event.organisation_id is not None else None
        event.seq, event.prev_hash = head.seq + 1, head.entry_hash
        if org_head is not None:
            event.org_seq, event.org_prev_hash = org_head.seq + 1, org_head.entry_hash
        event.entry_hash = entry_hash(event)
        event.save(force_insert=True)
        for moved in (head, org_head):
            if moved is not None:
                moved.seq, moved.entry_hash = moved.seq + 1, event.entry_hash
                moved.save(update_fields=["seq", "entry_hash"])
    return event


@dataclass(frozen=True)
class ChainBreak:
    """The first link that does not hold: which entry (None when entries are missing at the end), why."""

    chain: str
    seq: int
    event_id: int | None
    reason: str

    def __str__(self) -> str:
        where = f"entry id {self.event_id}" if self.event_id is not None else "after the last entry"
        return f"{where} (chain {self.chain}, seq {self.seq}): {self.reason}"


@dataclass(frozen=True)
class ChainReport:
    entries: int
    chains: int
    broken: ChainBreak | None


class _Walker:
    """Follows the global chain entry by entry, and each organisation's chain alongside it."""

    def __init__(self) -> None:
        self.last: tuple[int, str] = (0, GENESIS)
        self.org_last: dict[int, tuple[int, str]] = {}

    def step(self, event: AuditEvent) -> ChainBreak | None:
        def broken(chain: str, seq: int, reason: str) -> ChainBreak:
            return ChainBreak(chain=chain, seq=seq, event_id=event.pk, reason=reason)

        if entry_hash(event) != event.entry_hash:
            return broken(GLOBAL, event.seq, "its content does not match its hash (altered)")
        seq, last_hash = self.last
        if event.seq != seq + 1:
            return broken(GLOBAL, event.seq, f"follows seq {seq}: entries {seq + 1}..{event.seq - 1} are missing")
        if event.prev_hash != last_hash:
            return broken(GLOBAL, event.seq, f"its predecessor hash does not match entry seq {seq}")
        self.last = (event.seq, event.entry_hash)
        if event.organisation_id is None:
            if event.org_seq is not None or event.org_prev_hash:
                return broken(GLOBAL, event.seq, "it has an organisation link but no organisation")
            return None
        chain = org_chain(event.organisation_id)
        org_seq, org_hash = self.org_last.get(event.organisation_id, (0, GENESIS))
        if event.org_seq != org_seq + 1:
            return broken(chain, event.org_seq or 0, f"follows seq {org_seq} of its organisation: entries are missing")
        if event.org_prev_hash != org_hash:
            return broken(chain, event.org_seq, f"its predecessor hash does not match seq {org_seq} of its chain")
        self.org_last[event.organisation_id] = (event.org_seq, event.entry_hash)
        return None

    def tails(self, heads: dict[str, AuditChainHead]) -> ChainBreak | None:
        """Each chain must end where its head says: otherwise its newest entries were removed."""
        ends = {GLOBAL: self.last} | {org_chain(org): end for org, end in self.org_last.items()}
        for chain in sorted(set(heads) | set(ends)):
            head = heads.get(chain)
            seq, last_hash = ends.get(chain, (0, GENESIS))
            if head is None or (head.seq, head.entry_hash) != (seq, last_hash):
                said = f"seq {head.seq}" if head is not None else "no head"
                return ChainBreak(chain, seq + 1, None, f"the chain ends at seq {seq} but its head says {said}")
        return None


def chain_verify() -> ChainReport:
    """Walk every chain from its first entry, and return the first broken link (or none)."""
    # Heads first: entries appended while we read are past the global head, and left to the next check.
    heads = {head.chain: head for head in AuditChainHead.objects.all()}
    newest = heads[GLOBAL].seq if GLOBAL in heads else 0
    walker, entries = _Walker(), 0
    for event in AuditEvent.objects.filter(seq__lte=newest).order_by("seq").iterator(chunk_size=2000):
        entries += 1
        if broken := walker.step(event):
            return ChainReport(entries=entries, chains=len(heads), broken=broken)
    return ChainReport(entries=entries, chains=len(heads), broken=walker.tails(heads))
