"""The audit trail is append-only and tamper-evident: the ORM and PostgreSQL refuse changes, `audit_verify`
names the first broken link when rows are changed or removed behind their back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from foundation.audit import audit_record, current_request_context
from foundation.audit_chain import chain_verify, entry_hash, org_chain
from foundation.models import AppendOnlyError, AuditChainHead, AuditEvent

TABLE = AuditEvent._meta.db_table
TRIGGER = "portico_audit_append_only"


@pytest.fixture
def trail(org: Any, charlie_org: Any, alice: Any) -> list[AuditEvent]:
    """Six events over the global chain and two organisations' chains, with awkward values on the way."""
    token = current_request_context.set({"ip_address": "2001:0db8:0000:0000:0000:0000:0000:0001", "user_agent": "ua"})
    try:
        return [
            audit_record(action="account.login", actor=alice),
            audit_record(action="key.created", organisation=org, actor=alice, data={"scopes": ("read", "write")}),
            audit_record(action="member.invited", organisation=charlie_org, data={"email": "é@example.com"}),
            audit_record(action="key.revoked", organisation=org, data={"nested": {"b": 1, "a": [1.5, None]}}),
            audit_record(action="account.login_failed", actor_label="mallory\n<x>"),
            audit_record(action="key.created", organisation=org),
        ]
    finally:
        current_request_context.reset(token)


@contextmanager
def trigger_disabled() -> Iterator[None]:
    """Tamper as the table's owner would: only with the trigger off (the test's transaction restores it)."""
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER {TRIGGER}")
        yield
        cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER {TRIGGER}")


def _raw(sql: str, params: list[Any] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _verify_fails() -> str:
    with pytest.raises(CommandError) as failure:
        call_command("audit_verify")
    assert failure.value.returncode == 1
    return str(failure.value)


def test_a_clean_trail_verifies_after_a_round_trip_through_the_database(trail: list[AuditEvent]) -> None:
    out = StringIO()
    call_command("audit_verify", stdout=out)
    assert out.getvalue().strip() == "Audit trail intact: 6 entries in 3 chains."
    events = list(AuditEvent.objects.order_by("seq"))
    assert [event.seq for event in events] == [1, 2, 3, 4, 5, 6]
    assert [event.org_seq for event in events] == [None, 1, 1, 2, None, 3]
    assert events[3].org_prev_hash == events[1].entry_hash and events[3].prev_hash == events[2].entry_hash
    assert events[1].ip_address == "2001:db8::1"


def test_the_orm_refuses_every_change_and_removal(trail: list[AuditEvent]) -> None:
    event = trail[0]
    event.action = "account.logout"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.bulk_create([AuditEvent(action="forged")])
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.create(action="forged")  # outside the chain
    assert AuditEvent.objects.count() == len(trail)


@pytest.mark.parametrize(
    "sql",
    [
        f"UPDATE {TABLE} SET action = 'x'",
        f"DELETE FROM {TABLE}",
        f"TRUNCATE {TABLE}",
        f"DELETE FROM {TABLE} WHERE false",
    ],
    ids=["update", "delete", "truncate", "delete-nothing"],
)
def test_postgresql_refuses_to_change_audit_rows_whoever_asks(trail: list[AuditEvent], sql: str) -> None:
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        _raw(sql)
    assert AuditEvent.objects.count() == len(trail)


def test_an_entry_altered_behind_the_orms_back_is_named(trail: list[AuditEvent]) -> None:
    with trigger_disabled():
        _raw(f"UPDATE {TABLE} SET target_label = 'innocent' WHERE id = %s", [trail[2].pk])
    message = _verify_fails()
    assert f"entry id {trail[2].pk} (chain global, seq 3)" in message and "altered" in message


def test_an_entry_altered_and_rehashed_breaks_the_next_link(trail: list[AuditEvent]) -> None:
    forged = AuditEvent.objects.get(pk=trail[2].pk)
    forged.data = {"email": "someone-else@example.com"}
    with trigger_disabled():
        _raw(
            f"UPDATE {TABLE} SET data = %s, entry_hash = %s WHERE id = %s",
            [json.dumps(forged.data), entry_hash(forged), forged.pk],
        )
    message = _verify_fails()
    assert f"entry id {trail[3].pk} (chain global, seq 4)" in message and "predecessor hash" in message


def test_a_deleted_entry_is_named_by_the_one_after_it(trail: list[AuditEvent]) -> None:
    with trigger_disabled():
        _raw(f"DELETE FROM {TABLE} WHERE id = %s", [trail[1].pk])
    message = _verify_fails()
    assert f"entry id {trail[2].pk} (chain global, seq 3)" in message and "entries 2..2 are missing" in message


def test_a_deleted_last_entry_shows_against_the_chain_head(trail: list[AuditEvent]) -> None:
    with trigger_disabled():
        _raw(f"DELETE FROM {TABLE} WHERE id = %s", [trail[-1].pk])
    message = _verify_fails()
    assert (
        "after the last entry (chain global, seq 6)" in message and "ends at seq 5 but its head says seq 6" in message
    )


def test_an_organisations_chain_is_checked_against_its_own_head(trail: list[AuditEvent], org: Any) -> None:
    AuditChainHead.objects.filter(chain=org_chain(org.pk)).update(seq=4)  # as if its newest entry had gone
    message = _verify_fails()
    assert f"after the last entry (chain org:{org.pk}, seq 4)" in message and "ends at seq 3" in message


def test_deleting_a_user_or_an_organisation_leaves_the_trail_whole(
    trail: list[AuditEvent], alice: Any, org: Any
) -> None:
    org.delete()
    alice.delete()
    report = chain_verify()
    assert report.broken is None and report.entries == len(trail)
    event = AuditEvent.objects.select_related("actor", "organisation").get(pk=trail[1].pk)
    assert event.actor is None and event.organisation is None and event.actor_label == "alice@example.com"
