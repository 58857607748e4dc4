"""Create or update the provider's client (the portal under test) and users, from JSON on stdin:

{"client": {"client_id": ..., "client_secret": ..., "redirect_uris": ...},
 "users": [{"username": ..., "email": ..., "password": ...}]}
"""

import json
import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from oauth2_provider.models import get_application_model


class Command(BaseCommand):
    help = "Seed the test OpenID Connect provider."

    def handle(self, *args: Any, **options: Any) -> None:
        seed = json.load(sys.stdin)
        if client := seed.get("client"):
            application_model = get_application_model()
            application = application_model.objects.filter(client_id=client["client_id"]).first()
            application = application or application_model(client_id=client["client_id"])
            application.name = "Portico under test"
            application.client_secret = client["client_secret"]
            application.client_type = application_model.CLIENT_CONFIDENTIAL
            application.authorization_grant_type = application_model.GRANT_AUTHORIZATION_CODE
            application.redirect_uris = client["redirect_uris"]
            application.algorithm = application_model.RS256_ALGORITHM
            application.skip_authorization = True  # auto-approve: no consent screen
            application.save()
        for person in seed.get("users", []):
            user, _ = get_user_model().objects.get_or_create(username=person["username"])
            user.email = person["email"]
            user.set_password(person["password"])
            user.save()
        self.stdout.write("seeded")
