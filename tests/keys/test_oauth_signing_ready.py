"""No token is signed with a key gateways cannot know yet: the first key is created ahead of time (a deploy step,
`make run`) and waits out the publish delay; until then the token endpoint answers 503 with Retry-After."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from joserfc import jws

from keys.models import OAuthToken, SigningKey
from keys.services.clients import oauth_client_issue
from keys.services.signing import _new_key
from tests.support.oauth import basic, token_for

pytestmark = pytest.mark.django_db
PUBLISH = timedelta(seconds=settings.PORTICO_OAUTH_KEY_PUBLISH_SECONDS)


def _kid_of(token: str) -> str:
    return str(jws.extract_compact(token.encode()).protected["kid"])


def _ask(pair: tuple[Any, str]) -> Any:
    client, secret = pair
    return Client().post("/oauth/token", {"grant_type": "client_credentials"}, **basic(client.client_id, secret))


def test_a_fresh_platform_publishes_its_first_key_and_answers_503_until_gateways_know_it(
    application, subscription, alice
) -> None:
    pair = oauth_client_issue(actor=alice, application=application, name="Backend")
    start = timezone.now()
    response = _ask(pair)
    assert response.status_code == 503, response.content
    assert response.json()["error"] == "temporarily_unavailable"
    assert 1 <= int(response["Retry-After"]) <= PUBLISH.total_seconds()
    assert response["Cache-Control"] == "no-store"
    [key] = SigningKey.objects.all()
    assert key.kid in {jwk["kid"] for jwk in Client().get("/oauth/jwks.json").json()["keys"]}  # published at once
    assert _ask(pair).status_code == 503 and SigningKey.objects.count() == 1  # no second key
    assert not OAuthToken.objects.exists()
    with time_machine.travel(start + PUBLISH + timedelta(seconds=2)):
        assert _kid_of(token_for(pair)) == key.kid


def test_a_known_key_signs_rather_than_a_younger_one_that_could(oauth_client, signing_key) -> None:
    now = timezone.now()
    racer = _new_key(activates_at=now)  # e.g. made at the same moment by another process, allowed to sign at once
    assert _kid_of(token_for(oauth_client)) == signing_key.kid
    with time_machine.travel(now + PUBLISH + timedelta(seconds=1)):
        assert _kid_of(token_for(oauth_client)) == racer.kid  # gateways have had the publish delay to learn it


def test_the_deploy_step_creates_the_first_key_ahead_of_time_once(db) -> None:
    out = StringIO()
    call_command("rotate_signing_key", "--if-missing", stdout=out)
    call_command("rotate_signing_key", "--if-missing", stdout=out)
    [key] = SigningKey.objects.all()
    assert key.activates_at >= key.created_at + PUBLISH
    assert f"Signing key {key.kid}" in out.getvalue()
