"""The consumer token endpoint (/oauth/token), introspection and revocation, called for real through Django's
test client, and the JWTs checked against the published JWKS with joserfc."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.utils import timezone
from joserfc import jwt
from joserfc.jwk import KeySet

from gateway_sync.models import ConfigChange
from keys.models import OAuthToken
from keys.services.clients import oauth_client_issue, oauth_client_revoke, oauth_client_rotate
from portal.services.applications import subscription_create
from tests.factories import ApiFactory, PlanFactory
from tests.support.oauth import basic, token_for

pytestmark = pytest.mark.django_db


def _token(pair: tuple[Any, str], **data: str) -> Any:
    client, secret = pair
    return Client().post(
        "/oauth/token", {"grant_type": "client_credentials", **data}, **basic(client.client_id, secret)
    )


@pytest.mark.smoke
def test_client_credentials_grant_issues_a_jwt_that_verifies_against_the_jwks(oauth_client, application) -> None:
    response = _token(oauth_client, scope="weather")
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "weather" and body["expires_in"] == 900
    jwks = Client().get("/oauth/jwks.json").json()
    assert all("d" not in key for key in jwks["keys"])
    token = jwt.decode(body["access_token"], KeySet.import_key_set(jwks), algorithms=["ES256"])
    claims = token.claims
    assert token.header["alg"] == "ES256" and token.header["kid"] in {key["kid"] for key in jwks["keys"]}
    assert claims["sub"] == oauth_client[0].client_id
    assert claims["aud"] == "portico-gateway" and claims["iss"] == settings.PORTICO_OAUTH_ISSUER
    assert claims["exp"] - claims["iat"] == 900
    assert claims["scope"] == "weather" and claims["application_id"] == application.pk
    assert OAuthToken.objects.filter(jti=claims["jti"], client=oauth_client[0]).exists()


def test_no_scope_asked_means_every_subscribed_api(oauth_client) -> None:
    assert _token(oauth_client).json()["scope"] == "weather"


def test_a_scope_outside_the_subscriptions_is_invalid_scope(oauth_client) -> None:
    ApiFactory(name="Maps", slug="maps", path_prefix="/maps")
    response = _token(oauth_client, scope="weather maps")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert not OAuthToken.objects.exists()


def test_a_wrong_secret_is_invalid_client(oauth_client) -> None:
    client, secret = oauth_client
    response = _token((client, secret[:-7] + "0000000"))
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    response = Client().post(
        "/oauth/token", {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": "x"}
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_credentials_in_the_body_work_too(oauth_client) -> None:
    client, secret = oauth_client
    response = Client().post(
        "/oauth/token", {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": secret}
    )
    assert response.status_code == 200


def test_a_revoked_client_is_refused(oauth_client, alice) -> None:
    oauth_client_revoke(actor=alice, client=oauth_client[0])
    assert _token(oauth_client).status_code == 401


def test_a_rotated_secret_works_during_the_grace_period_only(oauth_client, alice) -> None:
    client, old_secret = oauth_client
    _, new_secret = oauth_client_rotate(actor=alice, client=client, grace=timedelta(hours=1))
    assert _token((client, old_secret)).status_code == 200
    assert _token((client, new_secret)).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=1)):
        assert _token((client, old_secret)).status_code == 401
        assert _token((client, new_secret)).status_code == 200


def test_the_plan_sets_the_token_lifetime(oauth_client, free_plan) -> None:
    free_plan.access_token_lifetime_seconds = 120
    free_plan.save()
    assert _token(oauth_client).json()["expires_in"] == 120


def test_gateway_clients_cannot_use_the_consumer_endpoint_nor_consumers_the_gateway_one(oauth_client) -> None:
    client, secret = oauth_client
    gateway_style = Client().post("/o/token/", {"grant_type": "client_credentials"}, **basic(client.client_id, secret))
    assert gateway_style.status_code == 401
    access = _token(oauth_client).json()["access_token"]
    pulled = Client().get("/gateway/v1/config", HTTP_AUTHORIZATION=f"Bearer {access}")
    assert pulled.status_code == 401


def test_introspection_answers_for_the_clients_own_tokens_only(oauth_client, application, alice) -> None:
    access = token_for(oauth_client)
    client, secret = oauth_client
    own = Client().post("/oauth/introspect", {"token": access}, **basic(client.client_id, secret))
    assert own.status_code == 200
    assert own.json()["active"] is True and own.json()["sub"] == client.client_id
    other = oauth_client_issue(actor=alice, application=application, name="Other")
    foreign = Client().post("/oauth/introspect", {"token": access}, **basic(other[0].client_id, other[1]))
    assert foreign.status_code == 200 and foreign.json() == {"active": False}
    unauthenticated = Client().post("/oauth/introspect", {"token": access})
    assert unauthenticated.status_code == 401


def test_revoking_an_own_token_makes_it_inactive_and_puts_its_jti_in_the_feed(oauth_client) -> None:
    access = token_for(oauth_client)
    client, secret = oauth_client
    jti = jwt.decode(access, KeySet.import_key_set(Client().get("/oauth/jwks.json").json())).claims["jti"]
    revoked = Client().post("/oauth/revoke", {"token": access}, **basic(client.client_id, secret))
    assert revoked.status_code == 200
    after = Client().post("/oauth/introspect", {"token": access}, **basic(client.client_id, secret))
    assert after.json() == {"active": False}
    change = ConfigChange.objects.get(kind=ConfigChange.Kind.OAUTH_TOKEN, object_id=jti)
    assert change.data["jti"] == jti and change.data["client_id"] == client.client_id
    assert change.data["exp"] == int(OAuthToken.objects.get(jti=jti).expires_at.timestamp())


def test_another_client_cannot_revoke_a_token(oauth_client, application, alice) -> None:
    access = token_for(oauth_client)
    other, other_secret = oauth_client_issue(actor=alice, application=application, name="Other")
    Client().post("/oauth/revoke", {"token": access}, **basic(other.client_id, other_secret))
    assert OAuthToken.objects.get().revoked_at is None


def test_the_grant_needs_a_post_with_client_credentials(oauth_client) -> None:
    assert Client().get("/oauth/token").status_code == 405
    client, secret = oauth_client
    response = Client().post("/oauth/token", {"grant_type": "password"}, **basic(client.client_id, secret))
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"


def test_a_subscription_on_a_second_api_widens_the_scopes(oauth_client, application, alice) -> None:
    maps = ApiFactory(name="Maps", slug="maps", path_prefix="/maps")
    subscription_create(actor=alice, application=application, plan=PlanFactory(api=maps, slug="free"))
    assert _token(oauth_client, scope="maps weather").json()["scope"] == "maps weather"
