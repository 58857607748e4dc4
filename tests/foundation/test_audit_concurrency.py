"""Writers appending at the same moment, each on its own PostgreSQL connection, never fork a chain."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from foundation.audit import audit_record
from foundation.audit_chain import chain_verify
from foundation.models import AuditEvent
from tests.factories import OrganisationFactory

pytestmark = pytest.mark.django_db(transaction=True)
WRITERS = 6
APPENDS_EACH = 25


def test_concurrent_appends_from_several_connections_leave_unbroken_chains() -> None:
    organisations = [OrganisationFactory(), OrganisationFactory()]
    start = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            start.wait(timeout=30)
            for n in range(APPENDS_EACH):
                # Every writer appends to the global chain; most also to one of two contended organisation chains.
                organisation: Any = organisations[(writer + n) % 3] if (writer + n) % 3 < 2 else None
                audit_record(action="test.concurrent", organisation=organisation, data={"writer": writer, "n": n})
        except BaseException as error:  # reported below, from the test's own thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(writer,)) for writer in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    total = WRITERS * APPENDS_EACH
    assert sorted(AuditEvent.objects.values_list("seq", flat=True)) == list(range(1, total + 1))
    report = chain_verify()
    assert report.broken is None and report.entries == total and report.chains == 3
