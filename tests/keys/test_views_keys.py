"""API key pages: create and reveal once, validation, edit, rotate with grace, revoke."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from keys import tokens
from keys.models import ApiKey
from keys.services import key_revoke
from tests.factories import ApiFactory
from tests.portal.pages_helpers import secrets_in, text


def _create(client: Client, application: Any, **data: Any) -> Any:
    return client.post(f"/applications/{application.pk}/keys/new/", {"name": "Server", "environment": "live", **data})


def test_a_new_key_is_revealed_once_with_no_store_and_then_only_masked(
    alice_client: Client, application: Any, subscription: Any
) -> None:
    response = _create(alice_client, application, environment="test")
    key = ApiKey.objects.get(name="Server")
    assert response["Location"] == f"/keys/{key.pk}/reveal/"
    first = alice_client.get(response["Location"])
    [secret] = set(secrets_in(first))
    assert secret.startswith("ptc_test_") and tokens.digest(secret) == key.digest
    assert "no-store" in first["Cache-Control"]
    assert 'data-copy="secret-value"' in text(first)
    second = alice_client.get(response["Location"])
    assert secrets_in(second) == [] and key.masked in text(second) and "no-store" in second["Cache-Control"]
    assert "portico_reveal" not in alice_client.session


def test_the_secret_is_not_shown_to_another_member_or_on_another_keys_page(
    alice_client: Client, bob_client: Client, application: Any, subscription: Any, api_key: Any
) -> None:
    response = _create(alice_client, application)
    assert secrets_in(bob_client.get(response["Location"])) == []  # bob's session never held it
    other_key_page = alice_client.get(f"/keys/{api_key[0].pk}/reveal/")
    assert secrets_in(other_key_page) == []
    assert secrets_in(alice_client.get(response["Location"])) == []  # any reveal visit drops the stash


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"name": ""}, "This field is required."),
        ({"name": "nul\x00"}, "Null characters are not allowed."),
        (
            {"allowed_cidrs": "10.0.0.0/8\nnot-an-ip\n300.1.1.1"},
            "&#x27;not-an-ip&#x27; is not an IP address or CIDR range.",
        ),
        ({"environment": "prod"}, "Select a valid choice."),
        ({"expires_at": "2001-01-01T00:00"}, "Must be in the future."),
        ({"expires_at": "yesterday"}, "Enter a valid date/time."),
    ],
)
def test_the_key_form_re_renders_with_errors(
    alice_client: Client, application: Any, subscription: Any, data: dict[str, str], error: str
) -> None:
    response = _create(alice_client, application, **data)
    assert response.status_code == 200 and error in text(response)
    assert not ApiKey.objects.filter(application=application).exists()


def test_keys_can_be_limited_to_subscribed_apis_and_ip_ranges(
    alice_client: Client, application: Any, subscription: Any, api: Any
) -> None:
    unsubscribed = ApiFactory(name="Maps")
    response = _create(alice_client, application, apis=[unsubscribed.pk])
    assert response.status_code == 200 and "Select a valid choice" in text(response)
    _create(
        alice_client,
        application,
        apis=[api.pk],
        allowed_cidrs="203.0.113.7\n2001:db8::/32",
        expires_at=(timezone.now() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M"),
    )
    key = ApiKey.objects.get(application=application)
    assert list(key.apis.all()) == [api]
    assert key.allowed_cidrs == ["203.0.113.7/32", "2001:db8::/32"]
    assert key.expires_at is not None


def test_the_key_limit_is_explained_on_the_form(
    alice_client: Client, application: Any, subscription: Any, settings: Any
) -> None:
    settings.PORTICO_MAX_ACTIVE_KEYS_PER_APPLICATION = 1
    _create(alice_client, application)
    response = _create(alice_client, application, name="Second")
    assert response.status_code == 200 and "at most 1 active keys" in text(response)


def test_editing_a_key_changes_its_name_ips_and_scopes_but_not_its_secret(
    alice_client: Client, api_key: Any, api: Any
) -> None:
    key, secret = api_key
    response = alice_client.post(
        f"/keys/{key.pk}/edit/", {"name": "Renamed", "allowed_cidrs": "10.0.0.0/8", "apis": [api.pk]}
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert (key.name, key.allowed_cidrs, key.digest) == ("Renamed", ["10.0.0.0/8"], tokens.digest(secret))
    bad = alice_client.post(f"/keys/{key.pk}/edit/", {"name": "Renamed", "allowed_cidrs": "999.0.0.0/8"})
    assert bad.status_code == 200 and "is not an IP address or CIDR range" in text(bad)


def test_a_revoked_key_cannot_be_edited(alice_client: Client, api_key: Any, alice: Any) -> None:
    key, _ = api_key
    key_revoke(actor=alice, key=key)
    response = alice_client.post(f"/keys/{key.pk}/edit/", {"name": "Back from the dead"})
    assert response.status_code == 200 and "A revoked key cannot be changed." in text(response)


@pytest.mark.parametrize(
    ("grace", "old_state"), [("now", "revoked"), ("1h", "grace"), ("24h", "grace"), ("7d", "grace")]
)
def test_rotation_reveals_the_successor_and_lists_both_keys(
    alice_client: Client, api_key: Any, application: Any, grace: str, old_state: str
) -> None:
    old, _ = api_key
    response = alice_client.post(f"/keys/{old.pk}/rotate/", {"grace": grace})
    successor = ApiKey.objects.get(replaces=old)
    assert response["Location"] == f"/keys/{successor.pk}/reveal/"
    assert len(set(secrets_in(alice_client.get(response["Location"])))) == 1
    old.refresh_from_db()
    assert old.state_at(timezone.now()) == old_state
    detail = alice_client.get(f"/applications/{application.pk}/")
    states = {k.pk: k.state for k in [*detail.context["current_keys"], *detail.context["past_keys"]]}
    assert states == {old.pk: old_state, successor.pk: "active"}


def test_a_rotated_key_cannot_be_rotated_again(alice_client: Client, api_key: Any) -> None:
    old, _ = api_key
    alice_client.post(f"/keys/{old.pk}/rotate/", {"grace": "1h"})
    page = text(alice_client.get(f"/keys/{old.pk}/rotate/"))
    assert "already been rotated" in page
    response = alice_client.post(f"/keys/{old.pk}/rotate/", {"grace": "1h"})
    assert response.status_code == 200 and "already been rotated" in text(response)
    assert ApiKey.objects.filter(application=old.application).count() == 2


def test_the_rotate_form_rejects_an_unknown_grace_period(alice_client: Client, api_key: Any) -> None:
    response = alice_client.post(f"/keys/{api_key[0].pk}/rotate/", {"grace": "forever"})
    assert response.status_code == 200 and "Select a valid choice" in text(response)


def test_revoking_asks_for_confirmation_then_revokes(alice_client: Client, bob_client: Client, api_key: Any) -> None:
    key, _ = api_key
    page = text(alice_client.get(f"/keys/{key.pk}/revoke/"))
    assert "Revoke Server key?" in page and key.masked in page
    key.refresh_from_db()
    assert key.status == ApiKey.Status.ACTIVE  # a GET changes nothing
    response = bob_client.post(f"/keys/{key.pk}/revoke/", follow=True)  # members manage keys too
    assert "revoked" in text(response)
    key.refresh_from_db()
    assert key.status == ApiKey.Status.REVOKED


def test_the_reveal_page_offers_first_calls_that_carry_the_key_and_parse_as_written(
    alice_client: Client, application: Any, subscription: Any, api: Any, tmp_path: Any
) -> None:
    import html
    import re
    import shlex
    import subprocess

    api.openapi_document = {"openapi": "3.0.3", "paths": {"/items/{id}": {"get": {}}, "/items": {"get": {}}}}
    api.save()
    reveal = alice_client.get(_create(alice_client, application)["Location"])
    [secret], page = set(secrets_in(reveal)), text(reveal)
    snippets = {
        language: html.unescape(code)
        for language, code in re.findall(r'<code id="snippet-weather-(\w+)">(.*?)</code>', page, re.S)
    }
    url = "http://127.0.0.1:8080/weather/items"  # the first GET without path parameters, through the gateway
    assert shlex.split(snippets["curl"]) == ["curl", "-H", f"X-API-Key: {secret}", url]
    assert "$" not in snippets["curl"]  # nothing left for the reader to fill in
    compile(snippets["python"], "snippet.py", "exec")
    assert secret in snippets["python"] and url in snippets["python"]
    assert secret in snippets["js"] and url in snippets["js"]
    (tmp_path / "snippet.js").write_text(snippets["js"])  # Node.js comes with `make test` (ensure-system.sh)
    subprocess.run(["node", "--check", str(tmp_path / "snippet.js")], check=True)
    assert page.count('class="btn btn-secondary btn-sm copy-btn"') == 3


def test_a_new_secret_never_sits_in_the_session_table_in_plaintext_and_expires_unread(
    alice_client: Client, application: Any, subscription: Any
) -> None:
    import time_machine
    from django.contrib.sessions.models import Session

    def stored_sessions() -> str:
        return " ".join(str(session.get_decoded()) for session in Session.objects.all())

    response = _create(alice_client, application)
    key = ApiKey.objects.get(name="Server")
    secret_stash = alice_client.session["portico_reveal"]["secret"]
    assert "ptc_" not in stored_sessions() and tokens.digest(secret_stash) != key.digest  # only ciphertext
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        late = alice_client.get(response["Location"])
    assert secrets_in(late) == [] and "can no longer be displayed" in text(late)
    assert "portico_reveal" not in stored_sessions()
    second = _create(alice_client, application, name="Second")
    assert len(set(secrets_in(alice_client.get(second["Location"])))) == 1  # in time: shown once
    assert "portico_reveal" not in stored_sessions()
