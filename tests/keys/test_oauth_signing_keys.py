"""JWT signing keys: encrypted at rest, published before they sign, kept in the JWKS while their tokens live."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from joserfc import jws

from gateway_sync import secrets as secret_box
from gateway_sync.models import ConfigChange
from keys.models import SigningKey
from keys.services.signing import signing_key_rotate, signing_keys_prune, signing_keys_rotate_due
from keys.tasks import rotate_signing_keys
from tests.support.oauth import basic, token_for

pytestmark = pytest.mark.django_db
PUBLISH = timedelta(seconds=settings.PORTICO_OAUTH_KEY_PUBLISH_SECONDS)
OVERLAP = timedelta(seconds=settings.PORTICO_OAUTH_MAX_TOKEN_LIFETIME)


def _kids() -> set[str]:
    return {key["kid"] for key in Client().get("/oauth/jwks.json").json()["keys"]}


def _kid_of(token: str) -> str:
    return str(jws.extract_compact(token.encode()).protected["kid"])


def _active(pair: tuple[Any, str], token: str) -> bool:
    client, secret = pair
    response = Client().post("/oauth/introspect", {"token": token}, **basic(client.client_id, secret))
    return bool(response.json()["active"])


def test_the_private_key_is_stored_encrypted(signing_key) -> None:
    key = signing_key
    with connection.cursor() as cursor:
        cursor.execute("SELECT private_key_encrypted, public_jwk FROM keys_signingkey WHERE id = %s", [key.pk])
        encrypted, public = cursor.fetchone()
    public_text = public if isinstance(public, str) else str(public)
    assert "PRIVATE KEY" not in encrypted and "BEGIN" not in encrypted
    assert '"d"' not in public_text and "'d'" not in public_text
    assert "PRIVATE KEY" in secret_box.decrypt(encrypted)  # only the platform's secrets key opens it


def test_a_rotated_key_is_published_before_it_signs_and_the_old_one_stays_until_its_tokens_expire(
    oauth_client, free_plan, signing_key
) -> None:
    free_plan.access_token_lifetime_seconds = settings.PORTICO_OAUTH_MAX_TOKEN_LIFETIME  # the longest-lived tokens
    free_plan.save()
    old = signing_key
    start = timezone.now()
    new = signing_key_rotate()
    upsert = ConfigChange.objects.get(kind=ConfigChange.Kind.SIGNING_KEY, object_id=new.kid, op="upsert")
    assert "d" not in upsert.data and upsert.data["kid"] == new.kid
    assert _kids() == {old.kid, new.kid}
    assert _kid_of(token_for(oauth_client)) == old.kid  # the new key is not signing yet
    with time_machine.travel(start + PUBLISH + timedelta(seconds=1)):
        last_old_token_time = start + PUBLISH - timedelta(seconds=1)
        assert _kid_of(token_for(oauth_client)) == new.kid
        assert _kids() == {old.kid, new.kid}
    with time_machine.travel(last_old_token_time):
        old_token = token_for(oauth_client)
    with time_machine.travel(start + PUBLISH + OVERLAP - timedelta(seconds=5)):
        assert _kids() == {old.kid, new.kid}
        assert _active(oauth_client, old_token)  # verified with the old key, still published
    with time_machine.travel(start + PUBLISH + OVERLAP + timedelta(seconds=1)):
        assert _kids() == {new.kid}
        assert signing_keys_prune() == 1
    assert not SigningKey.objects.filter(kid=old.kid).exists()
    assert ConfigChange.objects.filter(kind="signing_key", object_id=old.kid, op="delete").exists()


def test_an_emergency_rotation_withdraws_the_leaked_key_at_once(oauth_client, signing_key) -> None:
    leaked = signing_key
    token = token_for(oauth_client)
    assert _active(oauth_client, token)
    out = StringIO()
    call_command("rotate_signing_key", "--emergency", stdout=out)
    assert "New signing key" in out.getvalue()
    assert leaked.kid not in _kids()
    assert not _active(oauth_client, token)
    assert _kid_of(token_for(oauth_client)) != leaked.kid
    assert ConfigChange.objects.filter(kind="signing_key", object_id=leaked.kid, op="delete").exists()


def test_the_schedule_rotates_only_an_old_key(signing_key) -> None:
    first = signing_key
    assert signing_keys_rotate_due() is None
    with time_machine.travel(timezone.now() + timedelta(days=settings.PORTICO_OAUTH_KEY_MAX_AGE_DAYS, hours=1)):
        kid = rotate_signing_keys()
        assert kid is not None and kid != first.kid
        assert rotate_signing_keys() is None  # the successor is waiting to activate: no second rotation


def test_a_second_rotation_waits_for_the_first_to_activate(signing_key) -> None:
    signing_key_rotate()
    with pytest.raises(Exception, match="already under way"):
        signing_key_rotate()


def test_a_key_unreadable_after_the_secrets_key_changed_is_replaced_not_a_500(
    oauth_client, settings, signing_key
) -> None:
    old = signing_key
    settings.PORTICO_SECRETS_KEY = "a-new-secrets-key-after-an-incident"
    token = token_for(oauth_client)
    assert _kid_of(token) != old.kid
    assert _kids() == {old.kid, _kid_of(token)}  # the old public key still verifies the tokens it signed
    assert _active(oauth_client, token)
