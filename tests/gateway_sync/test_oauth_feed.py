"""What gateways get to verify consumer JWTs locally: the public JWKS, revoked clients and revoked `jti`s (each
only until it can no longer matter), in the snapshot and the change feed, through the real gateway API."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.utils import timezone
from joserfc import jwt
from joserfc.jwk import KeySet

from gateway_sync.models import ConfigChange
from gateway_sync.selectors import current_version
from keys.models import OAuthToken
from keys.services.clients import oauth_client_revoke, oauth_token_revoke
from keys.services.signing import signing_key_rotate
from tests.support.oauth import token_for
from tests.support.responses import streamed_json

pytestmark = pytest.mark.django_db


def test_the_snapshot_carries_the_public_jwks_a_token_verifies_with(gateway_api, oauth_client) -> None:
    access = token_for(oauth_client)
    oauth = streamed_json(gateway_api.get("/gateway/v1/config"))["oauth"]
    assert oauth["issuer"] == settings.PORTICO_OAUTH_ISSUER and oauth["audience"] == settings.PORTICO_OAUTH_AUDIENCE
    assert all(set(key) >= {"kid", "kty", "crv", "x", "y"} and "d" not in key for key in oauth["jwks"]["keys"])
    claims = jwt.decode(access, KeySet.import_key_set(oauth["jwks"]), algorithms=["ES256"]).claims
    assert claims["sub"] == oauth_client[0].client_id
    assert oauth["revoked_tokens"] == [] and oauth["revoked_clients"] == []


def test_a_new_signing_key_reaches_the_feed_before_it_signs(gateway_api, signing_key) -> None:
    start = current_version()
    new = signing_key_rotate()
    changes = gateway_api.get(f"/gateway/v1/changes?after={start}").json()["changes"]
    published = {c["id"]: c["data"] for c in changes if c["kind"] == "signing_key" and c["op"] == "upsert"}
    assert len(published) == 2  # the new key, and the old one (still published, for its tokens)
    assert published[new.kid]["kid"] == new.kid and "d" not in published[new.kid]
    assert new.activates_at > timezone.now()


def test_a_revoked_token_is_in_the_deny_list_until_its_expiry(gateway_api, oauth_client) -> None:
    token_for(oauth_client)
    record = OAuthToken.objects.get()
    start = current_version()
    oauth_token_revoke(token=record)
    change = gateway_api.get(f"/gateway/v1/changes?after={start}").json()["changes"][0]
    expected = {"jti": record.jti, "client_id": oauth_client[0].client_id, "exp": int(record.expires_at.timestamp())}
    assert (change["kind"], change["op"], change["id"], change["data"]) == (
        "oauth_token",
        "upsert",
        record.jti,
        expected,
    )
    assert streamed_json(gateway_api.get("/gateway/v1/config"))["oauth"]["revoked_tokens"] == [expected]
    with time_machine.travel(record.expires_at + timedelta(seconds=1)):
        assert streamed_json(Client(**gateway_api.defaults).get("/gateway/v1/config"))["oauth"]["revoked_tokens"] == []


def test_revoking_a_client_publishes_it_and_all_its_live_tokens(gateway_api, oauth_client, alice) -> None:
    token_for(oauth_client)
    token_for(oauth_client)
    start = current_version()
    oauth_client_revoke(actor=alice, client=oauth_client[0])
    changes = gateway_api.get(f"/gateway/v1/changes?after={start}").json()["changes"]
    kinds = sorted(c["kind"] for c in changes)
    assert kinds == ["oauth_client", "oauth_token", "oauth_token"]
    client_change = next(c for c in changes if c["kind"] == "oauth_client")
    assert client_change["id"] == oauth_client[0].client_id
    assert client_change["data"]["application_id"] == oauth_client[0].application_id
    oauth = streamed_json(gateway_api.get("/gateway/v1/config"))["oauth"]
    assert [c["client_id"] for c in oauth["revoked_clients"]] == [oauth_client[0].client_id]
    assert len(oauth["revoked_tokens"]) == 2


def test_deleting_an_application_revokes_its_clients_tokens_at_the_edge(alice_api, oauth_client, application) -> None:
    token_for(oauth_client)
    jti = OAuthToken.objects.get().jti
    start = current_version()
    assert alice_api.delete(f"/api/v1/applications/{application.pk}/").status_code == 204
    changes = ConfigChange.objects.filter(version__gt=start)
    assert changes.filter(kind="oauth_token", object_id=jti).exists()
    assert changes.filter(kind="oauth_client", object_id=oauth_client[0].client_id).exists()
