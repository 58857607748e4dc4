"""Run an edge gateway (nginx + Lua) in the foreground: a thin wrapper over `python -m gateway.launcher`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gateway import launcher


class Command(BaseCommand):
    help = "Render the edge gateway's nginx config into --runtime-dir and exec nginx (options as gateway.launcher)."

    def add_arguments(self, parser: CommandParser) -> None:
        launcher.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            opts = launcher.options_from_args(options)
            if options["render_only"]:
                conf = launcher.run(opts, render_only=True)
                self.stdout.write(f"Gateway {opts.name}: config written to {conf}")
                return
            listen = ", ".join(opts.listen)
            self.stdout.write(f"Gateway {opts.name}: starting nginx (proxy {listen}, admin {opts.admin})")
            self.stdout.flush()
            launcher.run(opts)  # replaces this process
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
