"""Who is asking: session (CSRF enforced) or personal access token (no CSRF); anything else is a 401 problem."""

import pytest
from django.utils.crypto import get_random_string

from keys import tokens
from tests.api.conftest import assert_problem, token_client


def test_a_session_write_without_a_csrf_token_is_refused(alice_session, org) -> None:
    response = alice_session.post(f"/api/v1/organisations/{org.pk}/applications/", {"name": "x"}, format="json")
    assert "CSRF" in assert_problem(response, 403)["detail"]


def test_a_session_write_with_a_csrf_token_is_accepted(alice_session, org) -> None:
    csrf = get_random_string(32)
    alice_session.cookies["csrftoken"] = csrf
    response = alice_session.post(
        f"/api/v1/organisations/{org.pk}/applications/", {"name": "x"}, format="json", HTTP_X_CSRFTOKEN=csrf
    )
    assert response.status_code == 201


def test_a_session_read_needs_no_csrf_token(alice_session, org) -> None:
    assert alice_session.get("/api/v1/organisations/").status_code == 200


def test_a_token_write_needs_no_csrf_token(alice_pat, org) -> None:
    response = alice_pat.post(f"/api/v1/organisations/{org.pk}/applications/", {"name": "via token"}, format="json")
    assert response.status_code == 201


def test_a_token_acts_with_its_owners_scope(alice_pat, charlie_application) -> None:
    assert_problem(alice_pat.get(f"/api/v1/applications/{charlie_application.pk}/"), 404)


def test_an_unauthenticated_request_gets_a_401_problem(anonymous_api) -> None:
    response = anonymous_api.get("/api/v1/organisations/")
    assert_problem(response, 401)
    assert response["WWW-Authenticate"] == 'Bearer realm="portico"'


@pytest.mark.parametrize(
    "header",
    [
        "Bearer ptc_pat_" + "A" * 49,
        "Bearer " + tokens.generate("pat").token,
        "Bearer ptc_pat_\x00",
        "Bearer",
    ],
    ids=["bad-checksum", "never-issued", "nul-byte", "no-token"],
)
def test_a_bad_token_gets_a_401_problem(db, header) -> None:
    client = token_client("x")
    client.credentials(HTTP_AUTHORIZATION=header)
    assert_problem(client.get("/api/v1/organisations/"), 401)


def test_an_api_key_is_not_an_access_token(api_key) -> None:
    _, secret = api_key
    assert_problem(token_client(secret).get("/api/v1/organisations/"), 401)
