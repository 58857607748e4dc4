"""Personal access token pages: create and reveal once, list, revoke; other users' tokens are 404."""

from __future__ import annotations

from typing import Any

from django.test import Client

from keys import tokens
from keys.models import PersonalAccessToken
from keys.services import access_token_authenticate, access_token_issue
from tests.portal.pages_helpers import secrets_in, text


def test_a_token_is_revealed_once_and_then_only_masked(alice: Any, alice_client: Client) -> None:
    response = alice_client.post("/account/tokens/", {"name": "CI deploy", "lifetime": "30"})
    token = PersonalAccessToken.objects.get(user=alice, name="CI deploy")
    assert response["Location"] == f"/account/tokens/{token.pk}/reveal/"
    first = alice_client.get(response["Location"])
    [secret] = set(secrets_in(first))
    assert secret.startswith("ptc_pat_") and tokens.digest(secret) == token.digest
    assert "no-store" in first["Cache-Control"]
    assert secrets_in(alice_client.get(response["Location"])) == []
    listing = text(alice_client.get("/account/tokens/"))
    assert f"{token.prefix}…{token.last4}" in listing and secret not in listing
    assert access_token_authenticate(secret) == token
    assert token.expires_at is not None


def test_the_token_form_re_renders_with_errors(alice_client: Client) -> None:
    response = alice_client.post("/account/tokens/", {"name": "", "lifetime": "forever"})
    page = text(response)
    assert response.status_code == 200 and "This field is required." in page and "Select a valid choice" in page


def test_revoking_a_token_stops_it_working(alice: Any, alice_client: Client) -> None:
    token, secret = access_token_issue(user=alice, name="Old script")
    assert "Revoke token Old script?" in text(alice_client.get(f"/account/tokens/{token.pk}/revoke/"))
    alice_client.post(f"/account/tokens/{token.pk}/revoke/")
    assert access_token_authenticate(secret) is None
    assert "revoked" in text(alice_client.get("/account/tokens/"))


def test_another_users_token_is_404(alice: Any, bob_client: Client) -> None:
    token, _ = access_token_issue(user=alice, name="Alice only")
    for url in [f"/account/tokens/{token.pk}/revoke/", f"/account/tokens/{token.pk}/reveal/"]:
        assert bob_client.get(url).status_code == 404
        assert bob_client.post(url).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_the_token_page_snippet_reaches_the_api_index_as_pasted(alice: Any, alice_client: Client) -> None:
    import html
    import re
    import shlex

    from rest_framework.test import APIClient

    response = alice_client.post("/account/tokens/", {"name": "laptop", "lifetime": "30"})
    page = alice_client.get(response["Location"]).content.decode()
    command = html.unescape(re.search(r'<code id="snippet-token-curl">(.*?)</code>', page).group(1))
    _curl, _h, header, url = shlex.split(command)
    assert url == "http://testserver/api/v1/"
    name, value = header.split(": ", 1)
    index = APIClient().get(url, HTTP_AUTHORIZATION=value)
    assert index.status_code == 200 and index.json()["authenticated_as"] == alice.email
    assert index.json()["resources"]["applications"] == "http://testserver/api/v1/applications/"
