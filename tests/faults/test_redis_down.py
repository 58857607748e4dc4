"""Redis (cache and Celery broker) goes away: the portal keeps working and gateways converge by their own pull."""

import time

from tests.support.waiting import wait_until


def test_a_key_revoked_while_redis_is_down_is_refused_at_the_gateway_by_its_own_pull(stack) -> None:
    gateway, key = stack.gateway, stack.seed["key"]
    assert gateway.get("/echo/hello", key).status_code == 200

    stack.redis.stop()
    started = time.monotonic()
    revoked = stack.api("POST", f"/api/v1/keys/{stack.seed['key_id']}/revoke/")
    assert revoked.status_code == 200, revoked.text
    assert time.monotonic() - started < 5  # the broker being down costs the request at most a short timeout
    wait_until(lambda: gateway.get("/echo/hello", key).status_code == 401, timeout=5)

    stack.redis.start()  # pushes work again for the next change
    assert stack.api("GET", "/api/v1/organisations/").status_code == 200
