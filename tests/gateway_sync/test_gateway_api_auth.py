"""Only an enabled, registered gateway with a `gateway`-scoped OAuth2 token gets into /gateway/v1/ (#33, #35)."""

import base64
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model

from gateway_sync.services import gateway_rotate_credentials, gateway_set_enabled
from keys.services import access_token_issue
from tests.api.conftest import assert_problem
from tests.support.registration import fetch_token, register

pytestmark = pytest.mark.django_db

ENDPOINTS = [("get", "/gateway/v1/config"), ("get", "/gateway/v1/changes?after=0"), ("post", "/gateway/v1/heartbeat")]


OTHER_SECRET = "s3cret-" + "x" * 40


@pytest.fixture
def other_integration(db):
    """A confidential client-credentials OAuth2 application that is not a gateway."""
    application_model = get_application_model()
    return application_model.objects.create(
        name="Some integration",
        client_type=application_model.CLIENT_CONFIDENTIAL,
        authorization_grant_type=application_model.GRANT_CLIENT_CREDENTIALS,
        client_secret=OTHER_SECRET,
    )


def _call(client: Client, method: str, path: str, **headers):
    if method == "post":
        return client.post(path, {"name": "edge-1", "version": 0}, content_type="application/json", **headers)
    return client.get(path, **headers)


def _bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_gateway_token_opens_every_gateway_endpoint(edge_token, method, path):
    assert _call(Client(), method, path, **_bearer(edge_token)).status_code in (200, 204)


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_no_credentials_get_a_401_problem_with_a_bearer_challenge(db, method, path):
    response = _call(Client(), method, path)
    assert_problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_token_without_the_gateway_scope_is_refused(edge, method, path):
    token = fetch_token(Client(), edge.client_id, edge.client_secret, scope=None)
    assert "lacks the `gateway` scope" in assert_problem(_call(Client(), method, path, **_bearer(token)), 403)["detail"]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_token_of_another_oauth_application_is_refused(other_integration, method, path):
    token = fetch_token(Client(), other_integration.client_id, OTHER_SECRET, scope=None)
    body = assert_problem(_call(Client(), method, path, **_bearer(token)), 403)
    assert "registered gateway" in body["detail"] or "scope" in body["detail"]


def test_only_a_registered_gateway_is_ever_granted_the_gateway_scope(other_integration):
    basic = base64.b64encode(f"{other_integration.client_id}:{OTHER_SECRET}".encode()).decode()
    response = Client().post(
        "/o/token/",
        "grant_type=client_credentials&scope=gateway",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_scope"


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_an_expired_gateway_token_is_a_401(edge, edge_token, method, path):
    get_access_token_model().objects.update(expires=timezone.now() - timedelta(seconds=1))
    assert_problem(_call(Client(), method, path, **_bearer(edge_token)), 401)


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_disabled_gateway_is_refused(edge, edge_token, method, path):
    gateway_set_enabled(gateway=edge.gateway, enabled=False)
    assert "disabled" in assert_problem(_call(Client(), method, path, **_bearer(edge_token)), 403)["detail"]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_developers_personal_access_token_is_not_a_gateway_credential(alice, method, path):
    _, pat = access_token_issue(user=alice, name="ci")
    assert_problem(_call(Client(), method, path, **_bearer(pat)), 401)


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_staff_session_is_not_a_gateway_credential(alice, method, path):
    alice.is_staff = alice.is_superuser = True
    alice.save()
    client = Client()
    client.force_login(alice)
    assert_problem(_call(client, method, path), 401)


def test_rotated_credentials_kill_the_old_token_and_secret(edge, edge_token):
    credentials = gateway_rotate_credentials(gateway=edge.gateway)
    assert_problem(Client().get("/gateway/v1/config", **_bearer(edge_token)), 401)
    refused = Client().post(
        "/o/token/", "grant_type=client_credentials&scope=gateway", content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION="Basic " + __import__("base64").b64encode(
            f"{edge.client_id}:{edge.client_secret}".encode()).decode(),
    )  # fmt: skip
    assert refused.status_code == 401
    fresh = fetch_token(Client(), credentials.client_id, credentials.client_secret)
    assert Client().get("/gateway/v1/config", **_bearer(fresh)).status_code == 200


def test_a_gateway_token_never_speaks_for_another_gateway(edge, edge_token):
    other = register("edge-2")
    response = Client().post(
        "/gateway/v1/heartbeat",
        {"name": "edge-2", "version": 7},
        content_type="application/json",
        **_bearer(edge_token),
    )
    assert_problem(response, 400)
    other.gateway.refresh_from_db()
    edge.gateway.refresh_from_db()
    assert other.gateway.last_heartbeat_at is None and other.gateway.applied_version == 0
    assert edge.gateway.last_heartbeat_at is None
