"""OAuth client pages: create and reveal the secret once with a working token request, rotate, revoke."""

from __future__ import annotations

import shlex
from typing import Any

from django.test import Client

from keys import tokens
from keys.models import OAuthClient
from tests.portal.pages_helpers import secrets_in, text
from tests.support.oauth import basic


def _create(client: Client, application: Any, name: str = "Billing") -> Any:
    return client.post(f"/applications/{application.pk}/clients/new/", {"name": name})


def test_a_new_client_secret_is_shown_once_with_a_curl_that_gets_a_token(
    alice_client: Client, application: Any, subscription: Any, signing_key: Any
) -> None:
    response = _create(alice_client, application)
    client = OAuthClient.objects.get(name="Billing")
    assert response["Location"] == f"/clients/{client.pk}/reveal/"
    first = alice_client.get(response["Location"])
    secret = next(s for s in set(secrets_in(first)) if s.startswith("ptc_cs_"))
    assert tokens.digest(secret) == client.secret_digest and "no-store" in first["Cache-Control"]
    page = text(first)
    assert client.client_id in page and "grant_type=client_credentials" in page
    # The snippet as shown works: replay its -u credentials and -d fields against the real endpoint.
    curl = first.context["curl"]
    words = shlex.split(curl)
    user = words[words.index("-u") + 1]
    fields = dict(words[i + 1].split("=", 1) for i, word in enumerate(words) if word == "-d")
    assert words[-1] == "http://testserver/oauth/token" and fields["scope"] == "weather"
    client_id, _, given_secret = user.partition(":")
    token = Client().post("/oauth/token", fields, **basic(client_id, given_secret))
    assert token.status_code == 200, token.content
    second = alice_client.get(response["Location"])
    assert secrets_in(second) == [] and client.masked_secret in text(second)


def test_the_application_page_lists_clients_and_a_form_error_rerenders(
    alice_client: Client, application: Any, oauth_client: Any
) -> None:
    page = alice_client.get(f"/applications/{application.pk}/")
    assert oauth_client[0].client_id in text(page) and oauth_client[1] not in text(page)
    response = _create(alice_client, application, name="")
    assert response.status_code == 200 and "This field is required." in text(response)


def test_rotate_shows_the_new_secret_and_keeps_the_old_in_grace(alice_client: Client, oauth_client: Any) -> None:
    client, old_secret = oauth_client
    response = alice_client.post(f"/clients/{client.pk}/rotate/", {"grace": "1h"})
    revealed = alice_client.get(response["Location"])
    [new_secret] = [s for s in set(secrets_in(revealed)) if s.startswith("ptc_cs_")]
    assert new_secret != old_secret
    client.refresh_from_db()
    assert client.state_at(client.rotated_at) == "grace"


def test_revoke_asks_first_then_revokes(alice_client: Client, oauth_client: Any, application: Any) -> None:
    client, _ = oauth_client
    assert "Revoke client" in text(alice_client.get(f"/clients/{client.pk}/revoke/"))
    assert client.revoked_at is None
    response = alice_client.post(f"/clients/{client.pk}/revoke/")
    assert response["Location"] == f"/applications/{application.pk}/"
    client.refresh_from_db()
    assert client.revoked_at is not None


def test_an_outsider_gets_404_on_every_client_page(charlie_client: Client, oauth_client: Any) -> None:
    client, _ = oauth_client
    for path in ("reveal", "rotate", "revoke"):
        assert charlie_client.get(f"/clients/{client.pk}/{path}/").status_code == 404
    assert charlie_client.post(f"/clients/{client.pk}/revoke/").status_code == 404
    client.refresh_from_db()
    assert client.revoked_at is None


def test_the_page_creates_a_test_client_when_asked(alice_client: Client, application: Any) -> None:
    """Issue #15: a test client's tokens are treated like test keys; live stays the default."""
    assert 'value="test"' in alice_client.get(f"/applications/{application.pk}/clients/new/").content.decode()
    alice_client.post(f"/applications/{application.pk}/clients/new/", {"name": "CI", "environment": "test"})
    _create(alice_client, application, "Server")
    assert OAuthClient.objects.get(name="CI").client_id.startswith("ptc_client_test_")
    assert OAuthClient.objects.get(name="Server").environment == "live"
    refused = alice_client.post(f"/applications/{application.pk}/clients/new/", {"name": "X", "environment": "prod"})
    assert refused.status_code == 200 and not OAuthClient.objects.filter(name="X").exists()
