"""How far traffic overshoots a quota that only the platform enforces, against the collection interval.

The gateway is given the plan without its quota (as if its own counter could not see the rest of the fleet), so
only the platform's block stops traffic: real requests, real log batches, a real collection loop, the block
pushed to the gateway as a signed config delta. Measured numbers are in docs/architecture.md.
"""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any

import pytest

from analytics.services.collection import gateway_logs_collect
from gateway_sync import secrets
from gateway_sync.models import ConfigChange, Gateway
from gateway_sync.selectors import current_version
from gateway_sync.snapshot import build_snapshot
from portal.models import Plan

QUOTA = 100
RATE = 100  # requests per second

pytestmark = pytest.mark.slow


def _push_new_changes(running: Any, applied: int) -> int:
    news = [c.as_delta() for c in ConfigChange.objects.filter(version__gt=applied).order_by("version")]
    if not news:
        return applied
    body = json.dumps({"from": applied, "to": news[-1]["version"], "changes": news}).encode()
    assert running.signed("POST", "/_portico/config", body).status_code == 200
    return news[-1]["version"]


@pytest.mark.parametrize("interval", [0.25, 2.0])
def test_quota_overshoot_is_about_rate_times_collection_delay(
    interval, api, api_key, subscription, upstream, start_gateway
) -> None:
    api.upstream_url = upstream
    api.save()
    Plan.objects.filter(pk=subscription.plan_id).update(
        rate_per_second=None, rate_per_minute=None, quota_per_day=QUOTA, quota_per_month=None
    )
    snapshot = build_snapshot(version=current_version())
    for plan in snapshot["plans"]:
        plan["quota_per_day"] = None  # the gateway leaves the quota to the platform
    running = start_gateway(snapshot, extra=["--log-flush-interval", "0.05"])
    row = Gateway.objects.create(
        name="edge-1", admin_url=running.admin_url, push_secret_encrypted=secrets.encrypt("test-push-secret")
    )
    admitted, stop = [0], threading.Event()

    def drive() -> None:
        started, sent = time.monotonic(), 0
        while not stop.is_set():
            if running.get("/weather/x", key=api_key[1]).status_code == 200:
                admitted[0] += 1
            sent += 1
            time.sleep(max(0.0, started + sent / RATE - time.monotonic()))

    driver = threading.Thread(target=drive)
    driver.start()
    time.sleep(random.uniform(0, interval))  # the beat's phase against the traffic is arbitrary
    applied, deadline = snapshot["version"], time.monotonic() + QUOTA / RATE + 2 * interval + 1.5
    try:
        while time.monotonic() < deadline:
            time.sleep(interval)
            gateway_logs_collect(gateway_id=row.pk, limit=100, rounds=10)
            applied = _push_new_changes(running, applied)
    finally:
        stop.set()
        driver.join()

    subscription.refresh_from_db()
    assert subscription.blocked_reason == "quota-day"
    overshoot = admitted[0] - QUOTA
    print(f"\nquota {QUOTA}/day at {RATE} req/s, collected every {interval}s: {overshoot} requests over")
    # Bound: a full interval plus flush, ingest and push (generous: this box is shared and loaded).
    assert 0 <= overshoot <= RATE * (interval + 1.0)
