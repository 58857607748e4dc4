"""API paths answer like an API in every mode: a missing trailing slash keeps the method, errors are never
Django's HTML pages (its debug pages included), and the Authorization scheme is case-insensitive."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.api.conftest import assert_problem, token_client


@pytest.mark.parametrize("debug", [False, True])
def test_a_post_without_the_trailing_slash_is_sent_on_with_its_method(alice_pat, settings, debug) -> None:
    settings.DEBUG = debug
    response = alice_pat.post("/api/v1/organisations?x=1", {"name": "Slashless"}, format="json")
    assert response.status_code == 308  # not 301, which a client follows with a GET
    assert response["Location"] == "/api/v1/organisations/?x=1"
    assert response["Content-Type"] == "application/problem+json"
    assert alice_pat.post(response["Location"], {"name": "Slashless"}, format="json").status_code == 201


@pytest.mark.parametrize("debug", [False, True])
def test_unknown_api_paths_and_server_errors_are_problem_json_even_with_debug_on(alice_pat, settings, debug) -> None:
    settings.DEBUG = debug
    assert_problem(alice_pat.get("/api/v1/no-such-thing/"), 404)
    assert_problem(alice_pat.get("/api/v1/applications/999999/"), 404)


def test_the_bearer_scheme_is_case_insensitive(alice_token) -> None:
    _, secret = alice_token
    for scheme in ("Bearer", "bearer", "BEARER"):
        client = token_client(secret)
        client.credentials(HTTP_AUTHORIZATION=f"{scheme} {secret}")
        assert client.get("/api/v1/organisations/").status_code == 200, scheme


def test_the_consumer_oauth_endpoints_answer_a_wrong_method_with_problem_json(db) -> None:
    """/oauth/ is a machine path like /api/: OAuth clients get JSON, never Django's empty HTML 405."""
    client = Client()
    token = client.get("/oauth/token")
    jwks = client.post("/oauth/jwks.json")

    assert_problem(token, 405)
    assert_problem(jwks, 405)
    assert "POST" in token["Allow"]
    assert "GET" in jwks["Allow"]
