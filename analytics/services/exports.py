"""Downloads of the request log: who took a copy of which application's traffic goes to the audit trail."""

from __future__ import annotations

from typing import Any

from foundation.audit import audit_record
from portal.models import Application


def request_log_export_record(*, actor: Any, application: Application, filters: dict[str, str]) -> None:
    """Audit one CSV export of the request log with its filter (client addresses and paths leave the platform)."""
    audit_record(
        action="requests.exported",
        actor=actor,
        organisation=application.organisation,
        target=application,
        data={"filters": filters},
    )
