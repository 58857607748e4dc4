"""Rate limits (GCRA token buckets, per key) and quotas (per subscription), with their headers."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.support.snapshots import api_entry, change, key_entry, plan_entry, snapshot, subscription_entry


def sleep_until_fraction(fraction: float) -> None:
    """Sleep until the wall clock is `fraction` into a second (the gateway windows on the same clock)."""
    now = time.time()
    target = int(now) + fraction
    if target <= now + 0.02:
        target += 1
    time.sleep(target - now)


def burst(gw, key, n):
    return [gw.get("/demo/x", key.secret).status_code for _ in range(n)]


# A burst the expectations below can judge: all of it within this many seconds (each burst is a few ms when the
# machine is idle; a loaded one can stretch it across the 0.2 s emission interval).
BURST_SECONDS = 0.06


def timed_burst(gw, key, n):
    started = time.monotonic()
    return burst(gw, key, n), time.monotonic() - started


def test_per_second_limit_admits_a_burst_of_the_limit_then_one_per_interval(start_gateway, upstream):
    keys = [key_entry() for _ in range(3)]
    gw = start_gateway(snapshot(1, [api_entry(upstream)], plans=[plan_entry(rate_per_second=5)], keys=keys))
    gw.get("/demo/warm")  # open the keepalive connection outside the measured bursts

    for key in keys:  # a fresh key (fresh limiter) per try; another try only when a burst took too long to judge
        sleep_until_fraction(0.6)
        first, d1 = timed_burst(gw, key, 7)
        sleep_until_fraction(0.03)
        after_0_43s, d2 = timed_burst(gw, key, 5)
        sleep_until_fraction(0.5)
        after_0_47s, d3 = timed_burst(gw, key, 5)
        if max(d1, d2, d3) < BURST_SECONDS:
            break

    assert first == [200] * 5 + [429] * 2  # the whole allowance at once, then nothing
    # one request's worth comes back every 0.2 s, whatever the clock's second: 0.43 s -> two
    assert after_0_43s == [200] * 2 + [429] * 3
    assert after_0_47s == [200] * 2 + [429] * 3


def test_rate_limited_answer_is_problem_json_with_retry_after_and_ratelimit_headers(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], plans=[plan_entry(rate_per_minute=2)], keys=[key]))

    burst(gw, key, 2)
    r = gw.get("/demo/x", key.secret)

    assert r.status_code == 429
    assert r.headers["Content-Type"] == "application/problem+json"
    assert 1 <= int(r.headers["Retry-After"]) <= 120
    assert r.headers["RateLimit-Limit"] == "2"
    assert r.headers["RateLimit-Remaining"] == "0"
    assert int(r.headers["RateLimit-Reset"]) >= 1
    body = r.json()
    assert body["type"].endswith("/rate-limited")
    assert (body["limit"], body["window"]) == ("rate", "minute")


def test_successful_answers_carry_rate_and_quota_headers(start_gateway, upstream):
    key = key_entry()
    # 3/s: a token comes back every 333 ms, so a loaded machine's pause between the two requests cannot hide the use
    plan = plan_entry(rate_per_second=3, rate_per_minute=100, quota_per_day=1000, quota_per_month=5000)
    gw = start_gateway(snapshot(1, [api_entry(upstream)], plans=[plan], keys=[key]))

    first, second = gw.get("/demo/x", key.secret), gw.get("/demo/x", key.secret)

    assert first.headers["RateLimit-Limit"] == "3"
    assert int(second.headers["RateLimit-Remaining"]) < int(first.headers["RateLimit-Remaining"])
    assert first.headers["X-Quota-Limit-Day"] == "1000"
    assert first.headers["X-Quota-Remaining-Day"] == "999"
    assert second.headers["X-Quota-Remaining-Day"] == "998"
    assert second.headers["X-Quota-Remaining-Month"] == "4998"


def test_unlimited_plan_sends_no_limit_headers(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[key]))

    r = gw.get("/demo/x", key.secret)

    assert r.status_code == 200
    assert "RateLimit-Limit" not in r.headers
    assert "X-Quota-Limit-Day" not in r.headers


def test_rate_limits_are_per_key(start_gateway, upstream):
    a, b = key_entry(), key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], plans=[plan_entry(rate_per_minute=2)], keys=[a, b]))

    assert burst(gw, a, 3) == [200, 200, 429]
    assert burst(gw, b, 2) == [200, 200]


def test_daily_quota_is_shared_by_the_applications_keys_and_answers_quota_exceeded(start_gateway, upstream):
    a, b = key_entry(), key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], plans=[plan_entry(quota_per_day=3)], keys=[a, b]))

    statuses = burst(gw, a, 2) + burst(gw, b, 1)
    r = gw.get("/demo/x", b.secret)

    assert statuses == [200, 200, 200]
    assert r.status_code == 429
    body = r.json()
    assert body["type"].endswith("/quota-exceeded")
    assert (body["limit"], body["window"]) == ("quota", "day")
    seconds_to_midnight = 86400 - time.time() % 86400
    assert abs(int(r.headers["Retry-After"]) - seconds_to_midnight) <= 2


def test_monthly_quota_is_enforced(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], plans=[plan_entry(quota_per_month=2)], keys=[key]))

    statuses = burst(gw, key, 3)
    r = gw.get("/demo/x", key.secret)

    assert statuses == [200, 200, 429]
    assert r.json()["window"] == "month"


def test_rate_limited_requests_do_not_use_up_quota(start_gateway, upstream):
    key = key_entry()
    plan = plan_entry(rate_per_minute=2, quota_per_day=100)
    gw = start_gateway(snapshot(1, [api_entry(upstream)], plans=[plan], keys=[key]))

    burst(gw, key, 5)
    gw.push([change(2, "plan", 3, plan_entry(rate_per_minute=None, quota_per_day=100))], 1, 2)

    assert gw.get("/demo/x", key.secret).headers["X-Quota-Remaining-Day"] == "97"


def test_blocked_until_pushed_by_the_platform_refuses_with_quota_exceeded(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[key]))
    until = time.time() + 100

    before = gw.get("/demo/x", key.secret).status_code
    gw.push(
        [change(2, "subscription", 7, subscription_entry(blocked_until=until, blocked_reason="monthly quota"))], 1, 2
    )
    r = gw.get("/demo/x", key.secret)

    assert before == 200
    assert r.status_code == 429
    assert r.json()["type"].endswith("/quota-exceeded")
    assert r.json()["window"] == "blocked"
    assert r.json()["reason"] == "monthly quota"
    assert 99 <= int(r.headers["Retry-After"]) <= 101


def test_quota_is_never_exceeded_under_concurrency(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], plans=[plan_entry(quota_per_day=50)], keys=[key]), workers=2)

    def one(_):
        return requests.get(gw.url + "/demo/x", headers={"X-API-Key": key.secret}, timeout=10).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(one, range(200)))

    assert statuses.count(200) == 50
    assert statuses.count(429) == 150
