"""API6:2023 Unrestricted access to sensitive business flows: floods of the flows that cost us or others something.

Sign-ups (each sends an email and creates an account), password resets (each mails someone's inbox), API keys and
access tokens (each is a live credential) are driven in a loop over HTTP until the platform says no, and it must
say so clearly: 429 for the account flows (allauth's rate limits, counted in Redis), a 409 problem+json for the
credential caps. The other resource caps (applications, organisations, invitations, members) are
tests/api/test_resource_limits.py.
"""

from __future__ import annotations

import secrets
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from keys.models import ApiKey, PersonalAccessToken
from tests.factories import UserFactory
from tests.support.problems import assert_problem

SIGNUPS_PER_MINUTE = 20  # config/settings.py ACCOUNT_RATE_LIMITS["signup"]: "20/m/ip"
RESETS_PER_ADDRESS = 5  # ACCOUNT_RATE_LIMITS["reset_password"]: "…,5/m/key"


def _fresh_address() -> str:
    """A client address no earlier run has used: the counters live in Redis and outlast a test."""
    return "10." + ".".join(str(secrets.randbelow(250) + 1) for _ in range(3))


def test_sign_up_floods_from_one_address_are_refused_with_429(db: Any) -> None:
    assert settings.ACCOUNT_RATE_LIMITS["signup"] == f"{SIGNUPS_PER_MINUTE}/m/ip"
    client, address, run = Client(), _fresh_address(), secrets.token_hex(4)
    answers = []
    for n in range(SIGNUPS_PER_MINUTE + 3):
        form = {
            "email": f"flood-{run}-{n}@example.com",
            "password1": "a-long-pass-phrase-9",
            "password2": "a-long-pass-phrase-9",
        }
        answers.append(client.post("/accounts/signup/", form, REMOTE_ADDR=address).status_code)
    assert answers[:SIGNUPS_PER_MINUTE] == [302] * SIGNUPS_PER_MINUTE
    assert answers[SIGNUPS_PER_MINUTE:] == [429] * 3
    # another address is not punished for it
    form = {
        "email": f"late-{run}@example.com",
        "password1": "a-long-pass-phrase-9",
        "password2": "a-long-pass-phrase-9",
    }
    assert client.post("/accounts/signup/", form, REMOTE_ADDR=_fresh_address()).status_code == 302


def test_password_reset_floods_against_one_inbox_are_refused(db: Any, mailoutbox: list) -> None:
    # a fresh inbox: the per-address counter lives in Redis and outlasts a test
    victim = UserFactory(email=f"victim-{secrets.token_hex(4)}@example.com")
    EmailAddress.objects.create(user=victim, email=victim.email, verified=True, primary=True)
    address = _fresh_address()
    answers = [
        Client().post("/accounts/password/reset/", {"email": victim.email}, REMOTE_ADDR=address).status_code
        for _ in range(RESETS_PER_ADDRESS + 2)
    ]
    assert answers[:RESETS_PER_ADDRESS] == [302] * RESETS_PER_ADDRESS
    assert answers[RESETS_PER_ADDRESS:] == [429] * 2
    assert len(mailoutbox) == RESETS_PER_ADDRESS


def test_key_creation_floods_stop_at_the_cap_with_a_409_problem(alice_pat, application, subscription) -> None:
    cap = settings.PORTICO_MAX_ACTIVE_KEYS_PER_APPLICATION
    url = f"/api/v1/applications/{application.pk}/keys/"
    created = [alice_pat.post(url, {"name": f"k{n}"}, format="json").status_code for n in range(cap + 3)]
    assert created[:cap] == [201] * cap
    for _ in range(3):
        assert_problem(alice_pat.post(url, {"name": "one more"}, format="json"), 409)
    assert ApiKey.objects.filter(application=application, status="active").count() == cap


def test_the_key_page_refuses_the_same_flood_with_a_message(alice_client, application, subscription) -> None:
    cap = settings.PORTICO_MAX_ACTIVE_KEYS_PER_APPLICATION
    page = f"/applications/{application.pk}/keys/new/"
    for n in range(cap):
        alice_client.post(page, {"name": f"k{n}", "environment": "live"})
    response = alice_client.post(page, {"name": "one more", "environment": "live"})
    assert response.status_code in (200, 409)
    assert f"at most {cap} active keys" in response.content.decode()
    assert ApiKey.objects.filter(application=application).count() == cap


def test_access_token_floods_stop_at_the_cap_with_a_409_problem(alice) -> None:
    cap = settings.PORTICO_MAX_ACCESS_TOKENS_PER_USER
    client = APIClient()
    client.force_authenticate(alice)  # a token cannot mint tokens (403): only a signed-in person can
    answers = [client.post("/api/v1/access-tokens/", {"name": f"t{n}"}, format="json") for n in range(cap + 2)]
    assert [a.status_code for a in answers[:cap]] == [201] * cap
    for answer in answers[cap:]:
        assert_problem(answer, 409)
    assert PersonalAccessToken.objects.filter(user=alice, revoked_at=None).count() == cap
