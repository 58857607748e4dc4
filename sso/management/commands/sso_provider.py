"""Configure an OpenID Connect provider for portal sign-in without the admin (deployments, the browser stack).

    echo "$CLIENT_SECRET" | manage.py sso_provider --id corp --name "Corp SSO" \
        --issuer https://login.example.com --client-id portico --secret-stdin \
        --allow-domain example.com --member example.com:12:member
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from foundation.errors import ApplicationError
from portal.models import Organisation
from sso.services import sso_membership_rule_save, sso_provider_save


class Command(BaseCommand):
    help = "Create or update an OpenID Connect provider and its Portico policy (docs/sso.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--id", required=True, dest="provider_id", help="short id used in the callback URL")
        parser.add_argument("--name", required=True, help='shown as "Log in with <name>"')
        parser.add_argument("--issuer", required=True, help="issuer URL (discovery is read under it)")
        parser.add_argument("--client-id", required=True)
        parser.add_argument("--secret-stdin", action="store_true", help="read the client secret from stdin")
        parser.add_argument("--allow-domain", action="append", default=[], help="an allowed email domain")
        parser.add_argument("--no-link", action="store_true", help="never sign in to existing local accounts")
        parser.add_argument(
            "--member", action="append", default=[], metavar="DOMAIN:ORGANISATION_ID:ROLE", help="a membership rule"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        secret = sys.stdin.readline().strip() if options["secret_stdin"] else ""
        try:
            policy = sso_provider_save(
                provider_id=options["provider_id"],
                name=options["name"],
                server_url=options["issuer"],
                client_id=options["client_id"],
                secret=secret,
                allowed_domains=options["allow_domain"],
                link_existing_accounts=not options["no_link"],
            )
            for rule in options["member"]:
                domain, organisation_id, role = rule.split(":")
                organisation = Organisation.objects.get(pk=int(organisation_id))
                sso_membership_rule_save(policy=policy, domain=domain, organisation=organisation, role=role)
        except (ApplicationError, ValidationError, ValueError, Organisation.DoesNotExist) as error:
            raise CommandError(str(error)) from None
        rules = policy.membership_rules.count()
        self.stdout.write(
            f"Provider {options['provider_id']}: domains {', '.join(policy.domains()) or '(none)'}, "
            f"{rules} membership rule(s), callback /accounts/oidc/{options['provider_id']}/login/callback/"
        )
