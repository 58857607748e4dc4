"""PostgreSQL goes away under a running stack: the portal says 503, the gateways keep enforcing their last config."""

import secrets

import requests

from tests.support.waiting import wait_until


def test_with_postgres_down_the_portal_answers_503_and_the_gateway_keeps_enforcing(stack) -> None:
    gateway, key = stack.gateway, stack.seed["key"]
    assert gateway.get("/echo/hello", key).status_code == 200

    stack.postgres.stop()

    api = stack.api("GET", "/api/v1/organisations/")
    assert api.status_code == 503 and api.headers["Content-Type"] == "application/problem+json"
    page = requests.get(stack.portal_url + "/catalog/", timeout=10)
    assert page.status_code == 503 and "Traceback" not in page.text
    assert [gateway.get("/echo/hello", key).status_code for _ in range(20)] == [200] * 20
    assert gateway.get("/echo/hello", "ptc_live_" + secrets.token_hex(20)).status_code == 401

    gateway.restart()  # its own restart, with the platform's database still down: the persisted config serves
    assert gateway.get("/echo/hello", key).status_code == 200

    stack.postgres.start()
    wait_until(lambda: stack.api("GET", "/api/v1/organisations/").status_code == 200, timeout=20)
    assert stack.api("POST", f"/api/v1/keys/{stack.seed['key_id']}/revoke/").status_code == 200
    wait_until(lambda: gateway.get("/echo/hello", key).status_code == 401, timeout=5)
