"""The main flow through the production configuration: gunicorn behind the TLS front, workers, beat, two gateways.

Sign-up goes through the HTML pages (form, emailed link, confirmation) with a plain HTTP client; the application,
subscription, key and revocation go through the REST API with that session (CSRF header and Referer, as a browser
sends them over HTTPS).
"""

from __future__ import annotations

import json
import re
import uuid
from email import message_from_string
from typing import Any

import pytest
import requests

from tests.support.production_stack import GUNICORN_WORKERS, ProductionStack
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

PASSWORD = "a-long-and-unusual-passphrase-42"
CALLS_PER_GATEWAY = 3


def confirmation_link(stack: ProductionStack, address: str) -> str | None:
    """The verification link of the newest message the file backend wrote to address."""
    for path in sorted(stack.mail_dir.glob("*.log"), key=lambda p: p.stat().st_mtime, reverse=True):
        for raw in reversed(path.read_text().split("-" * 79 + "\n")):
            message = message_from_string(raw)
            if address in message.get("To", ""):
                body = "".join(
                    part.get_payload(decode=True).decode() for part in message.walk() if not part.is_multipart()
                )
                found = re.search(rf"{re.escape(stack.url)}/accounts/confirm-email/\S+", body)
                return found.group(0) if found else None
    return None


def sign_up(stack: ProductionStack, session: requests.Session, email: str) -> requests.Response:
    """The sign-up form, the emailed link and its confirmation form; the answer after signing in."""
    signup = stack.url + "/accounts/signup/"
    assert session.get(signup).status_code == 200
    form = {"email": email, "password1": PASSWORD, "password2": PASSWORD}
    sent = session.post(signup, data={**form, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
                        headers={"Referer": signup})  # fmt: skip
    assert sent.status_code == 200 and "/accounts/confirm-email/" in sent.url, sent.text[-2000:]
    link = wait_until(lambda: confirmation_link(stack, email), 10, what="the verification email")
    assert session.get(link).status_code == 200
    return session.post(link, data={"csrfmiddlewaretoken": session.cookies["csrftoken"]}, headers={"Referer": link})


def api(stack: ProductionStack, session: requests.Session, method: str, path: str, body: Any = None) -> Any:
    """A REST call with the signed-in session; writes carry the CSRF token and a same-origin Referer."""
    headers = {"X-CSRFToken": session.cookies["csrftoken"], "Referer": stack.url + "/"} if method != "GET" else {}
    answer = session.request(method, f"{stack.url}/api/v1/{path}", json=body, headers=headers, timeout=15)
    assert answer.status_code in (200, 201), (method, path, answer.status_code, answer.text)
    return answer.json()


def test_the_main_flow_works_through_the_production_configuration(production: ProductionStack) -> None:
    session, email = production.session(), f"deploy-{uuid.uuid4().hex[:10]}@example.com"
    signed_in = sign_up(production, session, email)
    assert signed_in.status_code == 200 and signed_in.url == production.url + "/", signed_in.url
    assert signed_in.history and all(r.headers.get("Strict-Transport-Security") for r in signed_in.history)
    assert {c.name for c in session.cookies if c.secure} >= {"sessionid", "csrftoken"}

    [organisation] = api(production, session, "GET", "organisations/")["results"]
    application = api(production, session, "POST", f"organisations/{organisation['id']}/applications/",
                      {"name": "Deployed app"})  # fmt: skip
    plans = {plan["slug"]: plan["id"] for plan in api(production, session, "GET", "apis/echo/")["plans"]}
    api(production, session, "POST", f"applications/{application['id']}/subscriptions/", {"plan": plans["free"]})
    issued = api(production, session, "POST", f"applications/{application['id']}/keys/", {"name": "Server"})
    secret, key_id = issued["secret"], issued["key"]["id"]

    # The workers push the new key to both gateways; then each serves it.
    ok = 0
    for gateway in production.gateways:
        wait_until(lambda g=gateway: g.get("/echo/anything", key=secret).status_code == 200, 15,
                   what=f"the key accepted at {gateway.name}")  # fmt: skip
        ok += 1
        for _ in range(CALLS_PER_GATEWAY):
            answer = gateway.get("/echo/anything", key=secret)
            assert answer.status_code == 200 and answer.json()["method"] == "GET"
            ok += 1

    # Beat has the workers collect both gateways' logs; usage counts every call exactly once.
    def usage() -> dict[str, Any] | None:
        body = api(production, session, "GET", f"applications/{application['id']}/usage/")
        return body if body["by_status_class"].get("2xx") == ok else None

    counted = wait_until(usage, 20, 0.5, what=f"{ok} calls in the usage")
    assert counted["totals"]["requests"] == ok

    api(production, session, "POST", f"keys/{key_id}/revoke/")
    for gateway in production.gateways:
        wait_until(lambda g=gateway: g.get("/echo/anything", key=secret).status_code == 401, 10,
                   what=f"the revoked key refused at {gateway.name}")  # fmt: skip
    assert all(production.running().values()), production.running()


def test_the_front_serves_https_only_with_production_headers(production: ProductionStack) -> None:
    session = production.session()
    plain = requests.get(production.front.http_url + "/accounts/login/", allow_redirects=False, timeout=5)
    assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")

    page = session.get(production.url + "/accounts/login/")
    assert page.status_code == 200
    assert page.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert "Server: gunicorn" not in str(page.headers)  # the front answers, gunicorn stays behind it
    # Production static files: hashed names from collectstatic, served by whitenoise with a far-future lifetime.
    stylesheet = re.search(r'href="(/static/[^"]+\.[0-9a-f]{12}\.css)"', page.text)
    assert stylesheet, "no hashed stylesheet on the page"
    static = session.get(production.url + stylesheet.group(1))
    assert static.status_code == 200 and "max-age=315360000" in static.headers["Cache-Control"]

    missing = session.get(production.url + "/no-such-page/")
    assert missing.status_code == 404 and "Traceback" not in missing.text  # DEBUG is off


def test_health_checks_answer_for_a_load_balancer_without_secrets(production: ProductionStack) -> None:
    for base in (production.front.http_url, production.url):  # plain HTTP is exempt from the HTTPS redirect
        alive = requests.get(base + "/healthz", timeout=5, verify=str(production.cert))
        assert alive.status_code == 200 and alive.json() == {"status": "ok"}
        ready = requests.get(base + "/readyz?format=json", timeout=5, verify=str(production.cert),
                             headers={"Accept": "application/json"})  # fmt: skip
        assert ready.status_code == 200, ready.text
        checks = ready.json()
        assert any("Database" in name for name in checks) and any("Redis" in name for name in checks)
        text = json.dumps(checks)
        for secret in ("DJANGO_SECRET_KEY", "PORTICO_SECRETS_KEY", "DATABASE_URL", "REDIS_URL"):
            assert production.env[secret] not in text
    for gateway in production.gateways:
        assert requests.get(gateway.admin_url + "/_portico/ready", timeout=5).status_code == 200


def test_the_deploy_steps_ran_clean_with_two_gunicorn_workers(production: ProductionStack) -> None:
    assert "System check identified no issues" in production.check_deploy_output
    assert len(production.gunicorn_workers()) == GUNICORN_WORKERS
    assert production.env["DJANGO_DEBUG"] == "0"
    assert "Traceback" not in production.logs("gunicorn.log"), production.logs("gunicorn.log")[-3000:]
