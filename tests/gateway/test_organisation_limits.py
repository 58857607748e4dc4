"""Plans whose quota or rate limit is the organisation's (issue #15): every key and access token of the
organisation's applications on the plan takes from one counter per (organisation, plan), at one gateway and, with
--redis, across gateways; another organisation's applications keep their own."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway.test_shared_limits import avoid_minute_boundary, redis_args
from tests.support.jwt_tokens import Signer, oauth_member
from tests.support.private_services import PrivateRedis
from tests.support.snapshots import api_entry, change, key_entry, plan_entry, snapshot, subscription_entry
from tests.support.waiting import wait_until

PLAN = 3
# organisation 2 has applications 5 and 6; organisation 4 has application 9: all on the same plan
ORG_APPS = ((5, 2), (6, 2), (9, 4))


def org_snapshot(upstream: str, oauth: dict | None = None, **plan_fields):
    """Keys a, b (two applications of organisation 2) and c (organisation 4), each subscribed on PLAN."""
    keys = [key_entry(application_id=app, organisation_id=org) for app, org in ORG_APPS]
    subs = [subscription_entry(10 + app, application_id=app, plan_id=PLAN) for app, _ in ORG_APPS]
    snap = snapshot(1, [api_entry(upstream)], plans=[plan_entry(PLAN, **plan_fields)], subscriptions=subs,
                    keys=keys, oauth=oauth)  # fmt: skip
    return snap, keys


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis.create(tmp_path)
    server.start()
    yield server
    server.stop()


def statuses(gw, key, n: int) -> list[int]:
    return [gw.get("/demo/x", key.secret).status_code for _ in range(n)]


def cause(response) -> str:
    return response.json()["type"].rsplit("/", 1)[1]


def test_an_organisation_quota_is_shared_by_its_applications_and_not_by_another_organisation(start_gateway, upstream):
    snap, (a, b, c) = org_snapshot(upstream, quota_per_day=3, quota_scope="organisation")
    gw = start_gateway(snap)

    used = statuses(gw, a, 2) + statuses(gw, b, 1)
    refused_b, refused_a = gw.get("/demo/x", b.secret), gw.get("/demo/x", a.secret)

    assert used == [200, 200, 200]
    assert refused_b.status_code == refused_a.status_code == 429
    assert cause(refused_b) == "quota-exceeded" and refused_b.json()["window"] == "day"
    assert statuses(gw, c, 3) == [200, 200, 200]  # organisation 4 has its own counter


def test_the_quota_headers_show_the_shared_remainder(start_gateway, upstream):
    snap, (a, b, _) = org_snapshot(upstream, quota_per_day=10, quota_per_month=100, quota_scope="organisation")
    gw = start_gateway(snap)

    first, second = gw.get("/demo/x", a.secret), gw.get("/demo/x", b.secret)

    assert (first.headers["X-Quota-Remaining-Day"], second.headers["X-Quota-Remaining-Day"]) == ("9", "8")
    assert second.headers["X-Quota-Remaining-Month"] == "98"


def test_an_application_scoped_quota_stays_per_application(start_gateway, upstream):
    snap, (a, b, _) = org_snapshot(upstream, quota_per_day=2)

    gw = start_gateway(snap)

    assert statuses(gw, a, 3) == [200, 200, 429]
    assert statuses(gw, b, 2) == [200, 200]


def test_a_plan_change_to_organisation_scope_takes_effect_with_the_delta(start_gateway, upstream):
    snap, (a, b, _) = org_snapshot(upstream, quota_per_day=2)
    gw = start_gateway(snap)
    assert statuses(gw, a, 2) == [200, 200]

    shared = plan_entry(PLAN, quota_per_day=3, quota_scope="organisation")
    assert gw.push([change(2, "plan", PLAN, shared)], 1, 2).status_code == 200

    # one counter for the organisation from now on (new counter names: what a and b used before is not in it)
    assert statuses(gw, b, 2) + statuses(gw, a, 2) == [200, 200, 200, 429]


def test_rate_limits_stay_per_key_when_only_the_quota_is_the_organisations(start_gateway, upstream):
    snap, (a, b, _) = org_snapshot(upstream, rate_per_minute=2, quota_per_day=100, quota_scope="organisation")
    gw = start_gateway(snap)
    avoid_minute_boundary()

    assert statuses(gw, a, 3) == [200, 200, 429]
    assert statuses(gw, b, 2) == [200, 200]


def test_an_organisation_rate_limit_is_shared_by_its_keys_and_not_by_another_organisation(start_gateway, upstream):
    snap, (a, b, c) = org_snapshot(upstream, rate_per_minute=3, rate_scope="organisation")
    gw = start_gateway(snap)
    avoid_minute_boundary()

    used = statuses(gw, a, 2) + statuses(gw, b, 1)
    refused = gw.get("/demo/x", b.secret)

    assert used == [200, 200, 200]
    assert refused.status_code == 429 and cause(refused) == "rate-limited"
    assert refused.headers["RateLimit-Limit"] == "3"
    assert statuses(gw, a, 1) == [429]
    assert statuses(gw, c, 3) == [200, 200, 200]


def test_an_access_token_takes_from_its_organisations_shared_quota(start_gateway, upstream):
    signer = Signer()
    snap, (a, b, _) = org_snapshot(upstream, oauth_member(signer), quota_per_day=3, quota_scope="organisation")
    gw = start_gateway(snap)
    token = signer.token(application_id=6, organisation_id=2)  # an OAuth client of application 6
    by_token = {"Authorization": f"Bearer {token}"}

    answers = [gw.get("/demo/x", a.secret).status_code, gw.get("/demo/x", headers=by_token).status_code,
               gw.get("/demo/x", b.secret).status_code, gw.get("/demo/x", headers=by_token)]  # fmt: skip

    assert answers[:3] == [200, 200, 200]
    assert answers[3].status_code == 429 and cause(answers[3]) == "quota-exceeded"


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_two_gateways_share_an_organisation_rate_limit_through_redis(start_gateway, upstream, redis_server):
    limit = 30
    snap, (a, b, c) = org_snapshot(upstream, rate_per_minute=limit, rate_scope="organisation")
    gws = [start_gateway(snap, extra=redis_args(redis_server.address), name=f"edge-{i}") for i in (1, 2)]
    avoid_minute_boundary()

    # application 5 through one gateway, application 6 through the other, interleaved
    answers = [gws[i % 2].get("/demo/x", (a, b)[i % 2].secret) for i in range(2 * limit)]
    admitted = [r for r in answers if r.status_code == 200]

    assert limit <= len(admitted) <= limit * 1.05
    assert cause(answers[-1]) == "rate-limited"
    assert [gws[i % 2].get("/demo/x", c.secret).status_code for i in range(4)] == [200] * 4


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_two_gateways_count_an_organisation_quota_together_through_redis(start_gateway, upstream, redis_server):
    snap, (a, b, c) = org_snapshot(upstream, quota_per_day=4, quota_per_month=50, quota_scope="organisation")
    gw1, gw2 = (start_gateway(snap, extra=redis_args(redis_server.address), name=f"edge-{i}") for i in (1, 2))

    answers = [gw1.get("/demo/x", a.secret), gw2.get("/demo/x", b.secret), gw1.get("/demo/x", b.secret),
               gw2.get("/demo/x", a.secret)]  # fmt: skip
    refused = [gw2.get("/demo/x", a.secret), gw1.get("/demo/x", b.secret)]

    assert [r.status_code for r in answers] == [200] * 4
    assert [r.headers["X-Quota-Remaining-Day"] for r in answers] == ["3", "2", "1", "0"]
    assert answers[-1].headers["X-Quota-Remaining-Month"] == "46"
    assert [r.status_code for r in refused] == [429, 429]
    assert {cause(r) for r in refused} == {"quota-exceeded"} and refused[0].json()["window"] == "day"
    assert [gw.get("/demo/x", c.secret).status_code for gw in (gw1, gw2, gw1)] == [200] * 3


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_with_redis_down_an_organisation_quota_is_counted_at_each_gateway(start_gateway, upstream, redis_server):
    snap, (a, b, _) = org_snapshot(upstream, quota_per_day=3, quota_scope="organisation", store_failure_mode="deny")
    gw = start_gateway(snap, extra=redis_args(redis_server.address))
    assert statuses(gw, a, 2) == [200, 200]  # counted in Redis

    redis_server.stop()

    # this gateway's own counter from here (the platform's block still holds the fleet): never a 5xx
    assert statuses(gw, b, 4) == [200, 200, 200, 429]
    wait_until(lambda: gw.status()["counters"].get("limiter.quota_fallback", 0) >= 4, timeout=3)
