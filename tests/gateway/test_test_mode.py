"""Test mode (issue #15): a test key goes to its API's sandbox upstream, counts against counters of its own (the
plan's test limits, each defaulting to the live one) and never touches the live ones; an API without a sandbox
refuses test keys with the cause test-key-no-sandbox. Live keys are not affected."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway.test_shared_limits import redis_args
from tests.support.gateway import start_upstream
from tests.support.jwt_tokens import Signer, oauth_member
from tests.support.ports import free_port
from tests.support.private_services import PrivateRedis
from tests.support.snapshots import (
    api_entry,
    change,
    key_entry,
    key_entry_in_test_mode,
    plan_entry,
    snapshot,
    subscription_entry,
)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[str]:
    """A second echo upstream, the sandbox (its base path says which one answered)."""
    listen = f"127.0.0.1:{free_port()}"
    proc = start_upstream(listen, tmp_path / "sandbox-rt")
    yield f"http://{listen}/sandbox"
    proc.stop()


def test_a_test_key_is_proxied_to_the_sandbox_and_a_live_key_to_the_live_upstream(start_gateway, upstream, sandbox):
    live, test = key_entry(), key_entry_in_test_mode()
    gw = start_gateway(snapshot(1, [api_entry(upstream, sandbox_upstream_url=sandbox)], keys=[live, test]))

    assert gw.get("/demo/orders?x=1", live.secret).json()["path"] == "/orders"
    r = gw.get("/demo/orders?x=1", test.secret)
    assert r.status_code == 200
    assert (r.json()["path"], r.json()["query"]) == ("/sandbox/orders", "x=1")


def test_a_test_key_reaches_the_sandbox_address_not_the_live_one(start_gateway, upstream):
    """The sandbox's own address is dialled: one where nothing listens fails for test keys only."""
    live, test = key_entry(), key_entry_in_test_mode()
    dead = f"http://127.0.0.1:{free_port()}"
    gw = start_gateway(snapshot(1, [api_entry(upstream, sandbox_upstream_url=dead)], keys=[live, test]))

    assert gw.get("/demo/x", live.secret).status_code == 200
    assert gw.get("/demo/x", test.secret).status_code == 502


def test_an_api_without_a_sandbox_refuses_test_keys_with_a_clear_cause(start_gateway, upstream):
    live, test = key_entry(), key_entry_in_test_mode()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[live, test]))

    r = gw.get("/demo/x", test.secret)
    assert r.status_code == 403
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/test-key-no-sandbox")
    assert gw.get("/demo/x", live.secret).status_code == 200
    refused = [rec for rec in gw.wait_records(2) if rec["key"] == test.entry["prefix"]]
    assert refused and refused[0]["dc"] == "test-key-no-sandbox"


def test_a_sandbox_added_by_a_delta_takes_effect(start_gateway, upstream, sandbox):
    test = key_entry_in_test_mode()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[test]))
    assert gw.get("/demo/x", test.secret).status_code == 403

    gw.push([change(2, "api", 1, api_entry(upstream, sandbox_upstream_url=sandbox))], 1, 2)

    assert gw.get("/demo/x", test.secret).json()["path"] == "/sandbox/x"


def test_a_test_key_issued_by_a_delta_goes_to_the_sandbox(start_gateway, upstream, sandbox):
    test = key_entry_in_test_mode()
    gw = start_gateway(snapshot(1, [api_entry(upstream, sandbox_upstream_url=sandbox)]))

    gw.push([change(2, "key", test.digest, test.entry)], 1, 2)

    assert gw.get("/demo/x", test.secret).json()["path"] == "/sandbox/x"


def test_test_and_live_quotas_are_counted_apart(start_gateway, upstream, sandbox):
    """Same subscription, same plan: exhausting the test quota leaves live traffic alone, and the other way round."""
    live, test = key_entry(), key_entry_in_test_mode()
    plans = [plan_entry(quota_per_day=2)]
    gw = start_gateway(snapshot(1, [api_entry(upstream, sandbox_upstream_url=sandbox)], plans=plans,
                                keys=[live, test]))  # fmt: skip

    assert [gw.get("/demo/x", test.secret).status_code for _ in range(3)] == [200, 200, 429]
    assert [gw.get("/demo/x", live.secret).status_code for _ in range(3)] == [200, 200, 429]
    assert gw.get("/demo/x", test.secret).status_code == 429


def test_a_plans_test_limits_apply_to_test_keys_only(start_gateway, upstream, sandbox):
    live, test = key_entry(), key_entry_in_test_mode()
    plans = [plan_entry(quota_per_day=5, test_quota_per_day=1)]
    gw = start_gateway(snapshot(1, [api_entry(upstream, sandbox_upstream_url=sandbox)], plans=plans,
                                keys=[live, test]))  # fmt: skip

    first = gw.get("/demo/x", test.secret)
    assert (first.status_code, first.headers["X-Quota-Limit-Day"], first.headers["X-Quota-Remaining-Day"]) == (
        200,
        "1",
        "0",
    )
    assert gw.get("/demo/x", test.secret).status_code == 429
    assert [gw.get("/demo/x", live.secret).status_code for _ in range(5)] == [200] * 5


def test_a_platform_block_on_live_usage_does_not_stop_test_keys(start_gateway, upstream, sandbox):
    """The platform blocks a subscription on its live usage; test traffic is not part of it."""
    live, test = key_entry(), key_entry_in_test_mode()
    subs = [{"id": 7, "application_id": 5, "api_id": 1, "plan_id": 3, "status": "active",
             "blocked_until": 4_000_000_000, "blocked_reason": "quota"}]  # fmt: skip
    gw = start_gateway(snapshot(1, [api_entry(upstream, sandbox_upstream_url=sandbox)], subscriptions=subs,
                                keys=[live, test]))  # fmt: skip

    assert gw.get("/demo/x", live.secret).status_code == 429
    assert gw.get("/demo/x", test.secret).status_code == 200


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis.create(tmp_path)
    server.start()
    yield server
    server.stop()


def _org_snapshot(upstream: str, sandbox: str) -> tuple[dict, list]:
    """Organisation 2's applications 5 and 6 on one plan whose day quota (2) is the organisation's; a live and a
    test key each."""
    keys = [key_entry(5), key_entry_in_test_mode(5), key_entry(6), key_entry_in_test_mode(6)]
    subs = [subscription_entry(10 + app, application_id=app) for app in (5, 6)]
    plans = [plan_entry(quota_per_day=2, quota_scope="organisation", rate_scope="organisation", rate_per_minute=100)]
    snap = snapshot(1, [api_entry(upstream, sandbox_upstream_url=sandbox)], plans=plans, subscriptions=subs,
                    keys=keys)  # fmt: skip
    return snap, keys


def test_an_organisations_shared_test_counters_are_apart_from_its_live_ones(start_gateway, upstream, sandbox):
    snap, (live5, test5, live6, test6) = _org_snapshot(upstream, sandbox)
    gw = start_gateway(snap)

    assert [gw.get("/demo/x", k.secret).status_code for k in (test5, test6, test5)] == [200, 200, 429]
    assert [gw.get("/demo/x", k.secret).status_code for k in (live5, live6, live6)] == [200, 200, 429]


def test_through_redis_the_test_counters_are_apart_too(start_gateway, upstream, sandbox, redis_server):
    snap, (live5, test5, live6, test6) = _org_snapshot(upstream, sandbox)
    gw1, gw2 = (start_gateway(snap, extra=redis_args(redis_server.address), name=f"edge-{i}") for i in (1, 2))

    assert [gw.get("/demo/x", k.secret).status_code for gw, k in ((gw1, test5), (gw2, test6), (gw2, test5))] == [
        200,
        200,
        429,
    ]
    assert [gw.get("/demo/x", k.secret).status_code for gw, k in ((gw2, live5), (gw1, live6), (gw1, live5))] == [
        200,
        200,
        429,
    ]


def test_a_test_clients_access_token_goes_to_the_sandbox_on_test_counters(start_gateway, upstream, sandbox):
    """A token whose `environment` claim is "test" (a test OAuth client's) is treated like a test key."""
    signer = Signer()
    plans = [plan_entry(quota_per_day=5, test_quota_per_day=1)]
    apis = [api_entry(upstream, sandbox_upstream_url=sandbox)]
    gw = start_gateway(snapshot(1, apis, plans=plans, oauth=oauth_member(signer)))
    test_token = {"Authorization": f"Bearer {signer.token(environment='test')}"}
    live_token = {"Authorization": f"Bearer {signer.token()}"}

    assert gw.get("/demo/x", headers=test_token).json()["path"] == "/sandbox/x"
    assert gw.get("/demo/x", headers=test_token).status_code == 429
    assert gw.get("/demo/x", headers=live_token).json()["path"] == "/x"


def test_an_api_without_a_sandbox_refuses_a_test_clients_token(start_gateway, upstream):
    signer = Signer()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], oauth=oauth_member(signer)))

    refused = gw.get("/demo/x", headers={"Authorization": f"Bearer {signer.token(environment='test')}"})
    assert (refused.status_code, refused.json()["type"].rsplit("/", 1)[1]) == (403, "test-key-no-sandbox")
