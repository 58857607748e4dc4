"""Fill an organisation's applications with weeks of demo usage (what `seed_demo --usage` runs)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics.services.demo import usage_demo_seed
from portal.models import Organisation, Role


class Command(BaseCommand):
    help = "Replace the demo keys' usage of an organisation's applications with generated traffic (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organisation", type=int, required=True, help="Id of the organisation to fill.")
        parser.add_argument("--weeks", type=int, default=4, choices=range(1, 9), metavar="1..8", help="History.")

    def handle(self, *args: Any, **options: Any) -> None:
        organisation = Organisation.objects.filter(pk=options["organisation"]).first()
        if organisation is None:
            raise CommandError("No organisation with this id.")
        owner = organisation.memberships.filter(role=Role.OWNER).order_by("pk").first()
        if owner is None:
            raise CommandError("The organisation has no owner to issue the demo keys.")
        result = usage_demo_seed(organisation_id=organisation.pk, actor=owner.user, weeks=options["weeks"])
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo usage ready: {result.requests:,} requests over {options['weeks']} weeks from "
                f"{result.keys} keys, the last day's {result.events:,} in the request log."
            )
        )
