"""Rotate the OAuth2 token signing key (docs/oauth.md, "Signing keys")."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from keys.services import signing


class Command(BaseCommand):
    help = (
        "Publish a new signing key. Normally it signs after PORTICO_OAUTH_KEY_PUBLISH_SECONDS and the old key stays "
        "in the JWKS until its last token expires; --emergency (a leaked key) switches at once and withdraws the "
        "old key, so every token it signed stops verifying. --if-missing (a deploy step) only makes sure a key "
        "exists, so the first one is published well before the first token request."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--emergency", action="store_true", help="The current key leaked: replace it now.")
        parser.add_argument("--if-missing", action="store_true", help="Create a key only if there is none.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["if_missing"]:
            key = signing.signing_key_prepare()
            self.stdout.write(f"Signing key {key.kid} ({key.algorithm}) signs from {key.activates_at.isoformat()}.")
            return
        new = signing.signing_key_rotate(emergency=options["emergency"])
        pruned = signing.signing_keys_prune()
        self.stdout.write(
            f"New signing key {new.kid} ({new.algorithm}), signs from {new.activates_at.isoformat()}; "
            f"{pruned} retired key(s) removed."
        )
