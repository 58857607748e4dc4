"""API2:2023 Broken authentication: credentials that should not work, tried for real over HTTP.

Complements tests/api/test_authentication.py (CSRF on sessions, bad tokens, API keys are not tokens),
tests/portal/test_pages_accounts.py (login throttling, session fixation, logout, enumeration) and
tests/gateway_sync/test_gateway_api_auth.py (gateway credentials).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from keys import tokens
from keys.models import PersonalAccessToken
from keys.services import access_token_issue, access_token_revoke
from tests.support.problems import assert_problem, token_client

ME = "/api/v1/organisations/"


def test_a_revoked_access_token_is_refused_at_once(alice, org) -> None:
    token, secret = access_token_issue(user=alice, name="CI")
    client = token_client(secret)
    assert client.get(ME).status_code == 200
    access_token_revoke(user=alice, token=token)
    assert_problem(client.get(ME), 401)


def test_an_expired_access_token_is_refused(alice, org) -> None:
    token, secret = access_token_issue(user=alice, name="CI")
    PersonalAccessToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_problem(token_client(secret).get(ME), 401)


def test_the_token_of_a_deactivated_account_is_refused(alice, org) -> None:
    _token, secret = access_token_issue(user=alice, name="CI")
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    assert_problem(token_client(secret).get(ME), 401)


@pytest.mark.parametrize("parameter", ["access_token", "token", "api_key", "key"])
def test_a_token_in_the_query_string_is_not_a_credential(alice, org, parameter) -> None:
    _token, secret = access_token_issue(user=alice, name="CI")
    assert_problem(APIClient().get(f"{ME}?{parameter}={secret}"), 401)


@pytest.mark.parametrize("scheme", ["Token", "Basic", "Digest", "ApiKey"])
def test_a_token_under_another_scheme_is_not_a_credential(alice, org, scheme) -> None:
    _token, secret = access_token_issue(user=alice, name="CI")
    assert_problem(APIClient(HTTP_AUTHORIZATION=f"{scheme} {secret}").get(ME), 401)


def test_a_token_with_a_broken_checksum_is_refused_before_any_lookup(alice, django_assert_num_queries) -> None:
    _token, secret = access_token_issue(user=alice, name="CI")
    forged = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    assert not tokens.is_well_formed(forged, kind="pat")
    client = token_client(forged)
    with django_assert_num_queries(0):
        response = client.get(ME)
    assert_problem(response, 401)


def test_a_session_cookie_is_dead_for_the_api_after_logout(alice: Any, org) -> None:
    alice.set_password("a-long-pass-phrase-9")
    alice.save(update_fields=["password"])
    browser = Client()
    assert (
        browser.post("/accounts/login/", {"login": alice.email, "password": "a-long-pass-phrase-9"}).status_code == 302
    )
    cookie = browser.cookies["sessionid"].value
    assert browser.get(ME).status_code == 200
    browser.post("/accounts/logout/")
    replay = APIClient()
    replay.cookies["sessionid"] = cookie
    assert_problem(replay.get(ME), 401)
