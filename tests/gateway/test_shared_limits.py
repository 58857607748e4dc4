"""Rate limits shared by several gateways through Redis (--redis), and what happens when Redis fails.

Each test runs its own redis-server on a free loopback port (never the machine's 6379 instance).
"""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway.test_limits import sleep_until_fraction
from tests.support.private_services import PrivateRedis
from tests.support.snapshots import api_entry, key_entry, plan_entry, snapshot, subscription_entry
from tests.support.waiting import wait_until

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis.create(tmp_path)
    server.start()
    yield server
    server.stop()


ALLOW, DENY = 3, 4


def two_plan_snapshot(upstream: str, allow: dict, deny: dict):
    """Key `a` on an allow-on-failure plan, key `b` on a deny-on-failure plan."""
    a, b = key_entry(application_id=5), key_entry(application_id=6)
    snap = snapshot(
        1,
        [api_entry(upstream)],
        plans=[
            plan_entry(ALLOW, store_failure_mode="allow", **allow),
            plan_entry(DENY, store_failure_mode="deny", **deny),
        ],
        subscriptions=[
            subscription_entry(7, application_id=5, plan_id=ALLOW),
            subscription_entry(8, application_id=6, plan_id=DENY),
        ],
        keys=[a, b],
    )
    return snap, a, b


def redis_args(address: str, timeout_ms: int = 50) -> list[str]:
    return ["--redis", address, "--redis-retry-interval", "0.3", "--redis-timeout-ms", str(timeout_ms)]


def avoid_minute_boundary() -> None:
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)


def test_two_gateways_together_admit_the_per_minute_limit(start_gateway, upstream, redis_server):
    limit = 50
    snap, a, _ = two_plan_snapshot(upstream, {"rate_per_minute": limit}, {})
    gws = [start_gateway(snap, extra=redis_args(redis_server.address), name=f"edge-{i}") for i in (1, 2)]
    avoid_minute_boundary()

    answers = [gws[i % 2].get("/demo/x", a.secret) for i in range(3 * limit)]
    admitted = [r for r in answers if r.status_code == 200]

    assert limit <= len(admitted) <= limit * 1.02
    assert {r.status_code for r in answers} == {200, 429}
    assert admitted[0].headers["RateLimit-Limit"] == str(limit)
    assert int(admitted[-1].headers["RateLimit-Remaining"]) <= 1
    refused = answers[-1]
    assert refused.json()["type"].endswith("/rate-limited")
    assert refused.json()["window"] == "minute"


def test_a_shared_per_second_allowance_refills_across_gateways(start_gateway, upstream, redis_server):
    snap, a, _ = two_plan_snapshot(upstream, {"rate_per_second": 5}, {})
    gws = [start_gateway(snap, extra=redis_args(redis_server.address), name=f"edge-{i}") for i in (1, 2)]
    for gw in gws:
        gw.get("/demo/warm")  # keepalive connections opened outside the measured bursts

    sleep_until_fraction(0.6)
    first = [gws[i % 2].get("/demo/x", a.secret).status_code for i in range(8)]
    sleep_until_fraction(0.03)
    after_0_43s = [gws[i % 2].get("/demo/x", a.secret).status_code for i in range(4)]
    sleep_until_fraction(0.5)
    after_0_47s = [gws[i % 2].get("/demo/x", a.secret).status_code for i in range(5)]

    assert first == [200] * 5 + [429] * 3  # one allowance for both gateways together
    assert after_0_43s == [200] * 2 + [429] * 2  # a request's worth every 0.2 s
    assert after_0_47s == [200] * 2 + [429] * 3


def test_gateways_whose_clocks_differ_by_minutes_share_one_window(start_gateway, upstream, redis_server):
    """Windows run on Redis's clock: a gateway 5 minutes ahead neither blocks the others nor starts afresh."""
    snap, a, _ = two_plan_snapshot(upstream, {"rate_per_minute": 5}, {})
    normal = start_gateway(snap, extra=redis_args(redis_server.address), name="edge-1")
    ahead = start_gateway(snap, extra=redis_args(redis_server.address), name="edge-2", clock_shift=300)

    answers = [gw.get("/demo/x", a.secret).status_code for gw in (normal, normal, ahead, ahead, normal, normal)]

    assert answers == [200] * 5 + [429]


def test_dead_redis_applies_each_plans_failure_mode_and_shared_limiting_resumes(start_gateway, upstream, redis_server):
    snap, a, b = two_plan_snapshot(upstream, {"rate_per_minute": 5}, {"rate_per_minute": 100})
    gw = start_gateway(snap, extra=redis_args(redis_server.address))
    avoid_minute_boundary()
    assert gw.get("/demo/x", a.secret).headers["RateLimit-Limit"] == "5"

    redis_server.stop()
    allowed = [gw.get("/demo/x", a.secret) for _ in range(6)]
    denied = gw.get("/demo/x", b.secret)

    # allow plan: admitted without RateLimit headers, under this gateway's own window of 5
    assert [r.status_code for r in allowed] == [200] * 5 + [429]
    assert not any("RateLimit-Limit" in r.headers for r in allowed[:5])
    # deny plan: 503 limiter-unavailable with Retry-After, never 401/500
    assert denied.status_code == 503
    assert denied.headers["Content-Type"] == "application/problem+json"
    assert denied.json()["type"] == "https://portico.dev/problems/limiter-unavailable"
    assert int(denied.headers["Retry-After"]) >= 1
    wait_until(lambda: gw.status()["counters"].get("limiter.fallback_allowed", 0) >= 5, timeout=3)
    assert gw.status()["counters"]["limiter.fallback_denied"] >= 1

    redis_server.start()  # an empty Redis on the same port: the script is loaded again (NOSCRIPT -> EVAL)
    time.sleep(0.4)  # past the circuit breaker's retry interval

    back = [gw.get("/demo/x", b.secret) for _ in range(3)]
    assert [r.status_code for r in back] == [200] * 3
    assert [r.headers["RateLimit-Remaining"] for r in back] == ["99", "98", "97"]


def test_hanging_redis_costs_one_timeout_then_the_failure_mode_applies(start_gateway, upstream):
    # a listener that accepts connections (the kernel does) and never answers
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(128)
    address = f"127.0.0.1:{blackhole.getsockname()[1]}/0"
    snap, a, b = two_plan_snapshot(upstream, {"rate_per_second": 100}, {"rate_per_second": 100})
    try:
        gw = start_gateway(snap, extra=redis_args(address, timeout_ms=100))
        gw.get("/demo/warm")

        t0 = time.monotonic()
        first = gw.get("/demo/x", a.secret)
        first_s = time.monotonic() - t0
        t0 = time.monotonic()
        following = [gw.get("/demo/x", k.secret).status_code for k in (a, b, a, b)]
        following_s = time.monotonic() - t0
    finally:
        blackhole.close()

    assert first.status_code == 200
    assert 0.09 <= first_s < 0.6  # one read timeout (100 ms), then the allow plan's fallback
    assert following == [200, 503, 200, 503]
    assert following_s < 0.3  # the breaker is open: nobody waits for Redis again within the interval
