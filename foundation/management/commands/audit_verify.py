"""Check the audit trail's hash chains: exit 0 when every link holds, 1 naming the first broken entry."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from foundation.audit_chain import chain_verify


class Command(BaseCommand):
    help = "Verify every link of the audit trail (global and per-organisation chains); report the first broken one."

    def handle(self, *args: Any, **options: Any) -> None:
        report = chain_verify()
        if report.broken is not None:
            raise CommandError(f"Audit trail broken at {report.broken} ({report.entries} entries read).", returncode=1)
        self.stdout.write(f"Audit trail intact: {report.entries} entries in {report.chains} chains.")
