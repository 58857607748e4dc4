"""API8:2023 Security misconfiguration: what every answer says about the server, checked over HTTP.

`manage.py check --deploy` under production settings (HSTS, secure cookies, SSL redirect, secret key) is
tests/portal/test_deploy_settings.py; the strict CSP and escaping of names tests/portal/test_pages_security.py.
Here: the protective headers on pages, API answers and errors alike; errors that reveal nothing; no CORS grant
to foreign origins; cookie flags; Host header poisoning.
"""

from __future__ import annotations

import pytest
from django.test import Client

from tests.support.problems import assert_problem

PROTECTIVE = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
REVEALING = ("Traceback", "URLconf", "DEBUG = True", "django.urls", "settings.py", "SECRET_KEY")


@pytest.mark.parametrize(
    "path", ["/", "/catalog/", "/accounts/login/", "/api/v1/", "/api/v1/nowhere/", "/nowhere/", "/api/schema/"]
)
def test_every_kind_of_answer_carries_the_protective_headers(alice_client, path) -> None:
    response = alice_client.get(path)
    for header, value in PROTECTIVE.items():
        assert response.get(header) == value, (path, header)
    if response["Content-Type"].startswith("text/html"):
        assert "default-src 'self'" in response["Content-Security-Policy"]


def test_errors_reveal_nothing_about_the_server(alice_client, alice_pat) -> None:
    for response in (alice_client.get("/nowhere/"), alice_pat.get("/api/v1/nowhere/"), alice_pat.get("/gateway/v1/x")):
        assert response.status_code in (401, 404)
        text = response.content.decode()
        assert not any(marker in text for marker in REVEALING), text[:300]
    assert_problem(alice_pat.get("/api/v1/nowhere/"), 404)


def test_no_cors_grant_goes_to_a_foreign_origin(alice_pat, org) -> None:
    evil = "https://evil.example"
    answer = alice_pat.get("/api/v1/organisations/", HTTP_ORIGIN=evil)
    assert "Access-Control-Allow-Origin" not in answer and "Access-Control-Allow-Credentials" not in answer
    preflight = alice_pat.options("/api/v1/organisations/", HTTP_ORIGIN=evil, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert "Access-Control-Allow-Origin" not in preflight


def test_session_and_csrf_cookies_are_http_only_and_same_site(alice, org) -> None:
    alice.set_password("a-long-pass-phrase-9")
    alice.save(update_fields=["password"])
    browser = Client()
    browser.get("/accounts/login/")
    response = browser.post("/accounts/login/", {"login": alice.email, "password": "a-long-pass-phrase-9"})
    session = response.cookies["sessionid"]
    assert session["httponly"] and session["samesite"] == "Lax"
    assert browser.cookies["csrftoken"]["samesite"] == "Lax"


@pytest.mark.parametrize("path", ["/accounts/password/reset/", "/api/v1/", "/"])
def test_a_foreign_host_header_is_refused_so_links_cannot_be_poisoned(db, path) -> None:
    response = Client().get(path, HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert "evil.example" not in response.content.decode()
