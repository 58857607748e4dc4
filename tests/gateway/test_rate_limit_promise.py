"""The promise a plan's rate makes, kept at a real gateway for random arrival patterns.

"5 per second" means: up to 5 at once, then one request's worth back every 0.2 s (GCRA, a token bucket holding
the window's count). So a client that never sends more than 5 in any second is never refused, and one that sends
more is refused exactly its excess over that rule: here within 2 % of it, or one request, whichever is larger (a
request landing within a millisecond of an interval's edge may go either way, as client and gateway clocks
differ by the time a request takes to arrive).
"""

from __future__ import annotations

import random
import time

import pytest

from tests.support.snapshots import api_entry, key_entry, plan_entry, snapshot

LIMIT, WINDOW = 5, 1.0
# Conforming patterns keep this much clear of the limit's edges, for the request's own travel time.
MARGIN = 0.03


def gcra_refusals(times: list[float], limit: int = LIMIT, window: float = WINDOW) -> int:
    """How many of these arrivals the documented rule refuses (an independent model of the gateway)."""
    interval, tat, refused = window / limit, float("-inf"), 0
    for now in times:
        candidate = max(tat, now) + interval
        if candidate - now > window + 1e-9:
            refused += 1
        else:
            tat = candidate
    return refused


def conforming(rng: random.Random, duration: float) -> list[float]:
    """Random bursts and gaps, never more than LIMIT in any window (with MARGIN to spare)."""
    times: list[float] = []
    at = 0.0
    while at < duration:
        for _ in range(rng.randint(1, LIMIT)):
            candidate = at + rng.uniform(0, 0.02)
            recent = [t for t in times if t > candidate - WINDOW - MARGIN]
            if len(recent) < LIMIT:
                times.append(candidate)
        at += rng.choice([0.05, 0.1, 0.2, 0.3, 0.6]) * rng.uniform(0.8, 1.6)
    return sorted(times)


def over_the_limit(rng: random.Random, duration: float, rate: float) -> list[float]:
    """Poisson arrivals at `rate` per second with occasional bursts: more than the limit allows."""
    times, at = [], 0.0
    while at < duration:
        at += rng.expovariate(rate)
        times.extend([at] * (rng.randint(2, 6) if rng.random() < 0.1 else 1))
    return times


def replay(gw, secret: str, pattern: list[float]) -> tuple[list[float], list[int]]:
    """Send at the pattern's offsets from now; returns when each request really left and its status."""
    start = time.monotonic() + 0.05
    sent, statuses = [], []
    for offset in pattern:
        delay = start + offset - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sent.append(time.monotonic() - start)
        statuses.append(gw.get("/demo/x", secret).status_code)
    return sent, statuses


@pytest.fixture
def gateway_with_keys(start_gateway, upstream):
    keys = [key_entry() for _ in range(6)]
    plan = plan_entry(rate_per_second=LIMIT)
    gw = start_gateway(snapshot(1, [api_entry(upstream)], plans=[plan], keys=keys))
    gw.get("/demo/warm")  # keepalive connection opened before any measured request
    return gw, iter(keys)


def test_four_per_second_in_bursts_on_a_five_per_second_plan_is_never_refused(gateway_with_keys):
    gw, keys = gateway_with_keys
    pattern = [second + 0.001 * i for second in range(4) for i in range(4)]
    _, statuses = replay(gw, next(keys).secret, pattern)
    assert statuses == [200] * len(pattern)


@pytest.mark.parametrize("seed", [1, 2])
def test_random_patterns_within_the_limit_are_never_refused(gateway_with_keys, seed):
    gw, keys = gateway_with_keys
    pattern = conforming(random.Random(seed), duration=4.0)
    assert gcra_refusals(pattern) == 0 and len(pattern) >= 3 * LIMIT  # close to the limit, never over it
    _, statuses = replay(gw, next(keys).secret, pattern)
    assert statuses.count(429) == 0, statuses


@pytest.mark.parametrize(("seed", "rate"), [(3, 9.0), (4, 14.0)])
def test_random_patterns_over_the_limit_are_refused_their_excess(gateway_with_keys, seed, rate):
    gw, keys = gateway_with_keys
    sent, statuses = replay(gw, next(keys).secret, over_the_limit(random.Random(seed), 3.0, rate))
    excess = gcra_refusals(sent)
    assert excess >= 10
    assert set(statuses) <= {200, 429}
    assert abs(statuses.count(429) - excess) <= max(1, 0.02 * excess), (statuses.count(429), excess)
