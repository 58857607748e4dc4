"""An organisation's shared quota through the real pipeline (issue #15): two gateways serving the platform's
snapshot, each seeing only part of the organisation's traffic, their logs collected and ingested, the block of every
subscription of the organisation on the plan pushed as signed deltas; another organisation is untouched."""

from __future__ import annotations

import json
from typing import Any

import pytest

from analytics.models import QuotaUsage
from analytics.services.collection import gateway_logs_collect
from gateway_sync import secrets
from gateway_sync.models import ConfigChange, Gateway
from gateway_sync.selectors import current_version
from gateway_sync.snapshot import build_snapshot
from keys.services import key_issue
from portal.models import Plan, Subscription
from portal.services.applications import subscription_create
from tests.factories import ApplicationFactory, PlanFactory
from tests.support.gateway import PUSH_SECRET
from tests.support.waiting import wait_until

QUOTA = 6


def _push_new_changes(running: Any, applied: int) -> int:
    news = [c.as_delta() for c in ConfigChange.objects.filter(version__gt=applied).order_by("version")]
    if not news:
        return applied
    body = json.dumps({"from": applied, "to": news[-1]["version"], "changes": news}).encode()
    assert running.signed("POST", "/_portico/config", body).status_code == 200
    return news[-1]["version"]


@pytest.fixture
def fleet(api, org, alice, charlie_application, charlie, upstream, start_gateway) -> dict[str, Any]:
    """Alice's two applications and charlie's on a plan whose daily quota of 6 is the organisation's, a key each,
    and two registered gateways serving the platform's snapshot."""
    api.upstream_url = upstream
    api.save()
    plan = PlanFactory(api=api, quota_per_day=QUOTA, quota_per_month=None, rate_per_second=None,
                       rate_per_minute=None, quota_scope=Plan.QuotaScope.ORGANISATION)  # fmt: skip
    apps = {"a": ApplicationFactory(organisation=org), "b": ApplicationFactory(organisation=org)}
    apps["c"] = charlie_application
    subs, secrets_ = {}, {}
    for name, app in apps.items():
        actor = charlie if name == "c" else alice
        subs[name] = subscription_create(actor=actor, application=app, plan=plan)
        secrets_[name] = key_issue(actor=actor, application=app, name=f"key {name}")[1]
    version = current_version()
    gateways = []
    for name in ("edge-1", "edge-2"):
        running = start_gateway(build_snapshot(version=version), extra=["--log-flush-interval", "0.05"], name=name)
        row = Gateway.objects.create(
            name=name, admin_url=running.admin_url, push_secret_encrypted=secrets.encrypt(PUSH_SECRET)
        )
        gateways.append((running, row))
    return {"subs": subs, "keys": secrets_, "gateways": gateways, "version": version}


def _collect(fleet: dict[str, Any], expected: int) -> None:
    """Collect both gateways until the organisation's admitted requests are all counted."""
    org_subs = [fleet["subs"]["a"].pk, fleet["subs"]["b"].pk]

    def counted() -> bool:
        for _, row in fleet["gateways"]:
            gateway_logs_collect(gateway_id=row.pk, limit=100, rounds=10)
        used = QuotaUsage.objects.filter(subscription_id__in=org_subs, period=QuotaUsage.Period.DAY)
        return sum(used.values_list("used", flat=True)) >= expected

    wait_until(counted, timeout=15, interval=0.2, what="the organisation's requests counted")


def test_a_shared_quota_used_up_across_two_gateways_blocks_the_whole_organisation_at_both(fleet) -> None:
    (gw1, _), (gw2, _) = fleet["gateways"]
    keys = fleet["keys"]
    # each gateway sees half the organisation's traffic: neither reaches the quota on its own
    admitted = [gw1.get("/weather/x", key=keys["a"]).status_code for _ in range(QUOTA // 2)]
    admitted += [gw2.get("/weather/x", key=keys["b"]).status_code for _ in range(QUOTA // 2)]
    assert admitted == [200] * QUOTA

    _collect(fleet, QUOTA)
    applied = fleet["version"]
    for running, _ in fleet["gateways"]:
        _push_new_changes(running, applied)

    for name in ("a", "b"):
        sub = Subscription.objects.get(pk=fleet["subs"][name].pk)
        assert sub.blocked_reason == "quota-day"
    refused = [gw.get("/weather/x", key=keys[name]) for gw in (gw1, gw2) for name in ("a", "b")]
    assert [r.status_code for r in refused] == [429] * 4
    assert {r.json()["type"].rsplit("/", 1)[1] for r in refused} == {"quota-exceeded"}
    assert {r.json().get("reason") for r in refused} == {"quota-day"}
    assert [gw.get("/weather/x", key=keys["c"]).status_code for gw in (gw1, gw2)] == [200, 200]
