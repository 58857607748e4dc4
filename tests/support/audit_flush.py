"""Lets Django's test flush empty the append-only audit table on PostgreSQL.

Transactional tests end with one TRUNCATE of every table, which the audit trail's trigger refuses. A superuser
may run a statement with triggers off (`session_replication_role = replica`, which the application's role
cannot set), so the flush does that, for its own transaction only. Nothing outside tests is changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db.backends.postgresql.operations import DatabaseOperations

TRIGGERS_OFF = "SET LOCAL session_replication_role = replica"


@contextmanager
def flush_past_the_audit_trigger() -> Iterator[None]:
    """While active, PostgreSQL flushes (a TRUNCATE in one transaction) run with triggers off."""
    original = DatabaseOperations.sql_flush

    def sql_flush(self: DatabaseOperations, *args: Any, **kwargs: Any) -> list[str]:
        statements = original(self, *args, **kwargs)
        return [TRIGGERS_OFF, *statements] if statements else statements

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "sql_flush", sql_flush)
        yield
