"""REST endpoints for client certificates: register (problem+json on a bad PEM), list, retrieve, revoke;
outsiders get 404."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from certificates.models import ClientCertificate
from tests.support.api_fixtures import registered_certificate
from tests.support.client_certs import make_client_cert
from tests.support.problems import assert_problem


def test_a_member_registers_lists_and_revokes_a_certificate(bob_api: APIClient, application: Any, tmp_path: Any):
    client = make_client_cert(tmp_path, "ci-runner")
    url = f"/api/v1/applications/{application.pk}/certificates/"

    created = bob_api.post(url, {"name": "CI", "pem": client.pem}, format="json")
    listed = bob_api.get(url)
    revoked = bob_api.post(f"/api/v1/certificates/{created.json()['id']}/revoke/")

    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["fingerprint"], body["subject"], body["state"]) == (client.fingerprint, "CN=ci-runner", "active")
    assert body["days_left"] in (0, 1)
    assert [c["id"] for c in listed.json()["results"]] == [body["id"]]
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"


def test_a_bad_pem_is_a_problem_with_the_field_named(alice_api: APIClient, application: Any, tmp_path: Any):
    url = f"/api/v1/applications/{application.pk}/certificates/"
    ca = make_client_cert(tmp_path, "ca", ca=True)

    refused = alice_api.post(url, {"name": "CA", "pem": ca.pem}, format="json")
    unknown_field = alice_api.post(url, {"name": "x", "pem": ca.pem, "fingerprint": "00"}, format="json")

    body = assert_problem(refused, 400)
    assert "CA certificate" in str(body["errors"]["pem"])
    assert_problem(unknown_field, 400)
    assert not ClientCertificate.objects.exists()


def test_a_duplicate_is_a_conflict(alice_api: APIClient, application: Any, tmp_path: Any):
    pem = make_client_cert(tmp_path, "a").pem
    url = f"/api/v1/applications/{application.pk}/certificates/"
    alice_api.post(url, {"name": "A", "pem": pem}, format="json")

    assert_problem(alice_api.post(url, {"name": "A again", "pem": pem}, format="json"), 409)


def test_an_outsider_gets_404(charlie_api: APIClient, application: Any, charlie_org: Any):
    cert = registered_certificate(application)

    assert_problem(charlie_api.get(f"/api/v1/applications/{application.pk}/certificates/"), 404)
    assert_problem(charlie_api.get(f"/api/v1/certificates/{cert.pk}/"), 404)
    assert_problem(charlie_api.post(f"/api/v1/certificates/{cert.pk}/revoke/"), 404)
    cert.refresh_from_db()
    assert cert.revoked_at is None
