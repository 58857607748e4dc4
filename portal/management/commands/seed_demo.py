"""Load demo data and print how to use it."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.demo import seed_demo


class Command(BaseCommand):
    help = "Create the demo API, plans, developer, application and a fresh demo key (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--upstream", default="http://127.0.0.1:9000", help="Demo upstream base URL.")
        parser.add_argument("--admin-password", default=None, help="Admin password for a new admin (else random).")
        parser.add_argument("--gateway-url", default="http://127.0.0.1:8080", help="Shown in the example request.")
        parser.add_argument(
            "--usage", action="store_true", help="Also fill weeks of demo usage (analytics' seed_demo_usage)."
        )
        parser.add_argument("--usage-weeks", type=int, default=4, help="How many weeks of usage --usage fills.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["admin_password"]:
            # Production settings: never invent credentials silently; the operator must choose them.
            raise CommandError("With DJANGO_DEBUG off, pass --admin-password (there is no default admin password).")
        # Local demo runs print fresh passwords each time, so a lost terminal never locks anyone out.
        admin_password = options["admin_password"] or (secrets.token_urlsafe(12) if settings.DEBUG else None)
        developer_password = secrets.token_urlsafe(12) if settings.DEBUG else None
        creds = seed_demo(
            upstream_url=options["upstream"], admin_password=admin_password, developer_password=developer_password
        )
        out = self.stdout.write
        out(self.style.SUCCESS("Demo data ready."))
        if creds.admin_password:
            out(f"  Admin login:     {creds.admin_email} / {creds.admin_password}  (MFA set-up asked at /admin/)")
        else:
            out(f"  Admin login:     {creds.admin_email} (existing account, password unchanged)")
        if creds.developer_password:
            out(f"  Developer login: {creds.developer_email} / {creds.developer_password}")
        else:
            out(f"  Developer login: {creds.developer_email} (existing account, password unchanged)")
        out(f"  Demo API key:    {creds.api_key}  (shown once; stored hashed)")
        url = f"{options['gateway_url']}{creds.api_path_prefix}/anything"
        out(f"  Try it:          curl -H 'X-API-Key: {creds.api_key}' {url}")
        if options["usage"]:
            # By name, not import: usage belongs to analytics, which builds on portal (not the other way round).
            call_command(
                "seed_demo_usage",
                organisation=creds.organisation_id,
                weeks=options["usage_weeks"],
                stdout=self.stdout,
            )
