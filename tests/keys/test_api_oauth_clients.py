"""/api/v1/applications/{id}/clients/ and /api/v1/clients/{id}/…: the keys API's shape for OAuth clients."""

from __future__ import annotations

import pytest
from django.test import Client

from foundation.models import AuditEvent
from keys import tokens
from keys.models import OAuthClient
from tests.support.oauth import basic
from tests.support.problems import assert_problem

pytestmark = pytest.mark.django_db


def _create(api, application, name: str = "Backend"):
    return api.post(f"/api/v1/applications/{application.pk}/clients/", {"name": name}, format="json")


def test_a_member_creates_a_client_and_sees_the_secret_once(bob_api, application, subscription, signing_key) -> None:
    response = _create(bob_api, application)
    assert response.status_code == 201 and response["Cache-Control"] == "no-store"
    body = response.json()
    secret, client_id = body["client_secret"], body["client"]["client_id"]
    stored = OAuthClient.objects.get(client_id=client_id)
    assert stored.secret_digest == tokens.digest(secret) and tokens.is_well_formed(secret, kind="cs")
    assert body["client"]["state"] == "active" and body["client"]["secret_masked"] == stored.masked_secret
    listed = bob_api.get(f"/api/v1/applications/{application.pk}/clients/")
    assert [c["client_id"] for c in listed.json()["results"]] == [client_id]
    assert secret not in listed.content.decode()
    assert not AuditEvent.objects.filter(data__icontains=secret).exists()
    token = Client().post("/oauth/token", {"grant_type": "client_credentials"}, **basic(client_id, secret))
    assert token.status_code == 200


def test_the_number_of_active_clients_is_capped(alice_api, application, settings) -> None:
    settings.PORTICO_MAX_OAUTH_CLIENTS_PER_APPLICATION = 2
    assert _create(alice_api, application, "one").status_code == 201
    assert _create(alice_api, application, "two").status_code == 201
    assert_problem(_create(alice_api, application, "three"), 409)
    first = OAuthClient.objects.get(name="one")
    assert alice_api.post(f"/api/v1/clients/{first.pk}/revoke/").status_code == 200
    assert _create(alice_api, application, "three").status_code == 201


def test_rotate_returns_a_new_secret_and_keeps_the_old_one_in_grace(alice_api, oauth_client) -> None:
    client, old_secret = oauth_client
    response = alice_api.post(f"/api/v1/clients/{client.pk}/rotate/", {"grace": "1h"}, format="json")
    assert response.status_code == 201 and response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["client_secret"] != old_secret and body["client"]["state"] == "grace"
    assert body["client"]["previous_secret_expires_at"] is not None
    assert alice_api.get(f"/api/v1/clients/{client.pk}/").json()["state"] == "grace"


def test_revoke_is_idempotent_and_a_revoked_client_cannot_rotate(alice_api, oauth_client) -> None:
    client, _ = oauth_client
    for _attempt in range(2):
        response = alice_api.post(f"/api/v1/clients/{client.pk}/revoke/")
        assert response.status_code == 200 and response.json()["state"] == "revoked"
    assert AuditEvent.objects.filter(action="oauth_client.revoked").count() == 1
    assert_problem(alice_api.post(f"/api/v1/clients/{client.pk}/rotate/", {"grace": "now"}, format="json"), 409)


def test_an_outsider_gets_404(charlie_api, charlie_org, oauth_client, application) -> None:
    client, _ = oauth_client
    assert_problem(charlie_api.get(f"/api/v1/clients/{client.pk}/"), 404)
    assert_problem(charlie_api.post(f"/api/v1/clients/{client.pk}/revoke/"), 404)
    assert_problem(_create(charlie_api, application), 404)
    assert OAuthClient.objects.get(pk=client.pk).revoked_at is None


def test_unknown_fields_are_refused(alice_api, application) -> None:
    response = alice_api.post(
        f"/api/v1/applications/{application.pk}/clients/", {"name": "x", "client_id": "mine"}, format="json"
    )
    assert_problem(response, 400)
