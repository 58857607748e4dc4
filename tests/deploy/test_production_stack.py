"""The main flow through the production configuration: gunicorn behind the TLS front, workers, beat, two gateways.

Sign-up goes through the HTML pages (form, emailed link, confirmation) with a plain HTTP client; the application,
subscription, key and revocation go through the REST API with that session (CSRF header and Referer, as a browser
sends them over HTTPS).
"""

from __future__ import annotations

import json
import re
import uuid
from functools import partial
from typing import Any

import pytest
import requests

from tests.support import http_accounts
from tests.support.production_stack import GUNICORN_WORKERS, ProductionStack
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

CALLS_PER_GATEWAY = 3


def test_the_main_flow_works_through_the_production_configuration(production: ProductionStack) -> None:
    session, email = production.session(), f"deploy-{uuid.uuid4().hex[:10]}@example.com"
    signed_in = http_accounts.sign_up(session, production.url, production.mail_dir, email)
    api = partial(http_accounts.api, session, production.url)
    assert signed_in.status_code == 200 and signed_in.url == production.url + "/", signed_in.url
    assert signed_in.history and all(r.headers.get("Strict-Transport-Security") for r in signed_in.history)
    assert {c.name for c in session.cookies if c.secure} >= {"sessionid", "csrftoken"}

    [organisation] = api("GET", "organisations/")["results"]
    application = api("POST", f"organisations/{organisation['id']}/applications/",
                      {"name": "Deployed app"})  # fmt: skip
    plans = {plan["slug"]: plan["id"] for plan in api("GET", "apis/echo/")["plans"]}
    api("POST", f"applications/{application['id']}/subscriptions/", {"plan": plans["free"]})
    issued = api("POST", f"applications/{application['id']}/keys/", {"name": "Server"})
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
        body = api("GET", f"applications/{application['id']}/usage/")
        return body if body["by_status_class"].get("2xx") == ok else None

    counted = wait_until(usage, 20, 0.5, what=f"{ok} calls in the usage")
    assert counted["totals"]["requests"] == ok

    api("POST", f"keys/{key_id}/revoke/")
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
    assert page.headers["Server"].startswith("nginx")  # the front answers, gunicorn stays behind it
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
        for listener in (gateway.url, gateway.admin_url):  # a load balancer in front of gateways probes the first
            assert requests.get(listener + "/_portico/ready", timeout=5).json()["ready"] is True


def test_the_deploy_steps_ran_clean_and_both_worker_pools_serve(production: ProductionStack) -> None:
    assert "System check identified no issues" in production.check_deploy_output
    assert len(production.gunicorn_workers()) == GUNICORN_WORKERS
    assert "Traceback" not in production.logs("gunicorn.log"), production.logs("gunicorn.log")[-3000:]
    for n in (1, 2):  # both Celery workers took tasks from the shared broker
        assert "succeeded in" in production.logs(f"worker-{n}.log"), production.logs(f"worker-{n}.log")[-3000:]
