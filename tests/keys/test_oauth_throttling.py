"""The token endpoint's throttles: per client (each token is a row) and per address after failed client
authentication. Counters live in the real Redis cache; the answer is 429 `slow_down` with Retry-After."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from keys.models import OAuthToken
from keys.services.clients import oauth_client_issue
from tests.support.oauth import basic

pytestmark = pytest.mark.django_db


def _address() -> str:
    """A documentation address (RFC 3849) of its own, so counters of other tests and runs never interfere."""
    return f"2001:db8::{secrets.token_hex(2)}"


def _token(client_id: str, secret: str, address: str = "127.0.0.1") -> Any:
    data = {"grant_type": "client_credentials"}
    return Client(REMOTE_ADDR=address).post("/oauth/token", data, **basic(client_id, secret))


def _assert_slow_down(response: Any, window: int) -> None:
    assert response.status_code == 429, response.content
    assert response.json()["error"] == "slow_down"
    assert 1 <= int(response["Retry-After"]) <= window
    assert response["Cache-Control"] == "no-store"


def test_a_client_asking_for_too_many_tokens_is_told_to_slow_down(oauth_client, application, alice, settings):
    settings.PORTICO_OAUTH_TOKEN_RATE = "3/m"
    client, secret = oauth_client
    other, other_secret = oauth_client_issue(actor=alice, application=application, name="Other backend")
    with time_machine.travel(timezone.now(), tick=False):  # one counting window for the whole test
        assert [_token(client.client_id, secret).status_code for _ in range(3)] == [200, 200, 200]
        _assert_slow_down(_token(client.client_id, secret), window=60)
        assert _token(other.client_id, other_secret).status_code == 200  # counted per client
    assert OAuthToken.objects.filter(client=client).count() == 3  # the refused request wrote nothing


def test_an_address_failing_client_authentication_is_refused_before_any_lookup(oauth_client, settings):
    settings.PORTICO_OAUTH_FAILED_AUTH_RATE = "3/m"
    client, secret = oauth_client
    attacker, bystander = _address(), _address()
    wrong = secret[:-7] + "0000000"
    with time_machine.travel(timezone.now(), tick=False):
        assert [_token(client.client_id, wrong, attacker).status_code for _ in range(3)] == [401, 401, 401]
        _assert_slow_down(_token(client.client_id, secret, attacker), window=60)  # even the right secret waits
        introspect = Client(REMOTE_ADDR=attacker).post(
            "/oauth/introspect", {"token": "x"}, **basic(client.client_id, secret)
        )
        _assert_slow_down(introspect, window=60)
        assert _token(client.client_id, secret, bystander).status_code == 200
    assert OAuthToken.objects.filter(client=client).count() == 1


def test_successful_requests_do_not_count_as_failures(oauth_client, settings):
    settings.PORTICO_OAUTH_FAILED_AUTH_RATE = "2/m"
    client, secret = oauth_client
    address = _address()
    with time_machine.travel(timezone.now(), tick=False):
        assert {_token(client.client_id, secret, address).status_code for _ in range(4)} == {200}
