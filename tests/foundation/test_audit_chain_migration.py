"""Events recorded before the chains existed are linked by the migration, oldest first, and verify."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from foundation.audit_chain import chain_verify
from foundation.models import AuditEvent
from tests.factories import OrganisationFactory

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE = [("foundation", "0001_audit_trail_moved_from_portal")]


def _migrate(targets: list[tuple[str, str]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_existing_events_are_linked_oldest_first_and_verify() -> None:
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes("foundation")
    organisation = OrganisationFactory()
    old_apps = _migrate(BEFORE)
    try:
        old_event = old_apps.get_model("foundation", "AuditEvent")
        for n, org_id in enumerate([organisation.pk, None, organisation.pk]):
            old_event.objects.create(
                action=f"old.{n}", organisation_id=org_id, created_at=timezone.now(), data={"n": n}
            )
    finally:
        _migrate(latest)
    events = list(AuditEvent.objects.order_by("seq"))
    assert [(e.action, e.seq, e.org_seq) for e in events] == [("old.0", 1, 1), ("old.1", 2, None), ("old.2", 3, 2)]
    report = chain_verify()
    assert report.broken is None and report.entries == 3 and report.chains == 2
