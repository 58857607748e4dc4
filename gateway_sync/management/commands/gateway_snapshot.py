"""Write the gateway configuration snapshot to a file (for `rungateway --snapshot-file` and offline gateways)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from gateway_sync.snapshot import build_snapshot


class Command(BaseCommand):
    help = "Build the gateway config snapshot and write it atomically to --output."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", type=Path, required=True)
        parser.add_argument(
            "--config-version", type=int, default=None, help="Snapshot version (default: current time)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        version = options["config_version"] if options["config_version"] is not None else int(time.time())
        snapshot = build_snapshot(version=version)
        output: Path = options["output"]
        output.parent.mkdir(parents=True, exist_ok=True)
        temporary = output.with_suffix(".tmp")
        temporary.write_text(json.dumps(snapshot, separators=(",", ":")))
        os.replace(temporary, output)  # a reader never sees half a file
        self.stdout.write(
            f"Snapshot v{version}: {len(snapshot['apis'])} APIs, {len(snapshot['keys'])} keys -> {output}"
        )
