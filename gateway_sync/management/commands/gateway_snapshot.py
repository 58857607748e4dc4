"""Write the gateway configuration snapshot to a file (for `rungateway --snapshot-file` and offline gateways)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from gateway_sync.snapshot import snapshot_chunks


class Command(BaseCommand):
    help = "Build the gateway config snapshot and write it atomically to --output."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", type=Path, required=True)
        parser.add_argument(
            "--config-version", type=int, default=None, help="Snapshot version (default: current time)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        version = options["config_version"] if options["config_version"] is not None else int(time.time())
        output: Path = options["output"]
        output.parent.mkdir(parents=True, exist_ok=True)
        temporary = output.with_suffix(".tmp")
        size = 0
        with temporary.open("w", encoding="utf-8") as file:
            for piece in snapshot_chunks(version=version):  # the layout the gateway loads a slice at a time
                size += file.write(piece)
        os.replace(temporary, output)  # a reader never sees half a file
        self.stdout.write(f"Snapshot v{version}: {size:,} bytes -> {output}")
