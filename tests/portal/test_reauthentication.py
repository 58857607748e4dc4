"""Sensitive account actions (email and MFA changes) need a recent proof of identity, by the second factor when
the account has one; a password-only session of an account with TOTP cannot stand in for it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import time_machine
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.test import Client
from django.utils import timezone

from tests.factories import PASSWORD
from tests.portal.pages_helpers import log_in
from tests.support.browser_stack import totp_code
from tests.support.mfa import give_totp, sign_in_with_totp

LATER = timedelta(minutes=6)  # past the default 300 s reauthentication window


def _add_email(client: Client, email: str) -> Any:
    return client.post("/accounts/email/", {"action_add": "", "email": email})


def _make_primary(client: Client, email: str) -> Any:
    """allauth lets an account with MFA change its email only among addresses verified before MFA was set up."""
    return client.post("/accounts/email/", {"action_primary": "", "email": email})


def _second_address(user: Any) -> str:
    EmailAddress.objects.create(user=user, email="alice.work@example.com", verified=True, primary=False)
    return "alice.work@example.com"


def _primary_email(user: Any) -> str:
    user.refresh_from_db()
    return user.email


def test_an_email_change_long_after_sign_in_asks_for_the_password_first(alice: Any) -> None:
    client = Client()
    log_in(client, alice.email)
    with time_machine.travel(timezone.now() + LATER):
        asked = _add_email(client, "alice.work@example.com")
        assert asked.status_code == 302 and asked["Location"].startswith("/accounts/reauthenticate/")
        assert not EmailAddress.objects.filter(email="alice.work@example.com").exists()
        client.post("/accounts/reauthenticate/", {"password": PASSWORD})
        _add_email(client, "alice.work@example.com")
    assert EmailAddress.objects.filter(user=alice, email="alice.work@example.com").exists()


def test_right_after_signing_in_with_totp_an_email_change_is_not_asked_twice(alice: Any) -> None:
    client = sign_in_with_totp(Client(), alice)
    assert _make_primary(client, _second_address(alice))["Location"] == "/accounts/email/"
    assert _primary_email(alice) == "alice.work@example.com"


def test_an_account_with_totp_confirms_an_email_change_with_a_code_not_the_password(alice: Any) -> None:
    client = sign_in_with_totp(Client(), alice)
    secret = give_totp(alice)  # a fresh secret, so the code below is not one the sign-in already used
    address = _second_address(alice)
    with time_machine.travel(timezone.now() + LATER):
        asked = _make_primary(client, address)
        assert asked["Location"].startswith("/accounts/2fa/reauthenticate/")
        # the password page is not on offer, and a password posted to it anyway counts for nothing
        assert client.get("/accounts/reauthenticate/")["Location"].startswith("/accounts/2fa/reauthenticate/")
        client.post("/accounts/reauthenticate/", {"password": PASSWORD})
        assert _make_primary(client, address)["Location"].startswith("/accounts/2fa/reauthenticate/")
        assert _primary_email(alice) == "alice@example.com"
        client.post("/accounts/2fa/reauthenticate/", {"code": totp_code(secret)})
        _make_primary(client, address)
    assert _primary_email(alice) == address


def test_a_password_only_session_cannot_turn_off_totp_set_up_since(alice: Any) -> None:
    """A session signed in before TOTP existed (or stolen along with the password) must give the code."""
    client = Client()
    log_in(client, alice.email)
    give_totp(alice)
    refused = client.post("/accounts/2fa/totp/deactivate/")
    assert refused.status_code == 302 and "reauthenticate" in refused["Location"]
    assert Authenticator.objects.filter(user=alice, type=Authenticator.Type.TOTP).exists()
