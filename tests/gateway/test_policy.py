"""Policy: key scope, subscriptions, client-address allowlists, methods, body size."""

from __future__ import annotations

import pytest
import requests

from tests.support.ports import free_port
from tests.support.snapshots import api_entry, key_entry, snapshot, subscription_entry


def test_key_restricted_to_other_apis_is_forbidden(start_gateway, upstream):
    key = key_entry(api_ids=[2])
    apis = [api_entry(upstream, 1, "/one"), api_entry(upstream, 2, "/two")]
    subs = [subscription_entry(7, api_id=1), subscription_entry(8, api_id=2)]
    gw = start_gateway(snapshot(1, apis, subscriptions=subs, keys=[key]))

    one, two = gw.get("/one/x", key.secret), gw.get("/two/x", key.secret)

    assert one.status_code == 403
    assert one.json()["type"].endswith("/forbidden-api")
    assert two.status_code == 200


@pytest.mark.parametrize("status", ["pending", "suspended", "cancelled"])
def test_only_an_active_subscription_admits(start_gateway, upstream, status):
    key = key_entry()
    gw = start_gateway(
        snapshot(1, [api_entry(upstream)], subscriptions=[subscription_entry(status=status)], keys=[key])
    )

    r = gw.get("/demo/x", key.secret)

    assert r.status_code == 403
    assert r.json()["type"].endswith("/forbidden-api")


def test_key_of_an_application_without_subscription_is_forbidden(start_gateway, upstream):
    key = key_entry(application_id=6)
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[key]))

    assert gw.get("/demo/x", key.secret).status_code == 403


def test_ipv4_allowlist_admits_members_and_refuses_others(start_gateway, upstream):
    inside = key_entry(allowed_cidrs=["127.0.0.0/8"])
    outside = key_entry(allowed_cidrs=["10.0.0.0/8", "2001:db8::/32"])
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[inside, outside]))

    refused = gw.get("/demo/x", outside.secret)

    assert gw.get("/demo/x", inside.secret).status_code == 200
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/forbidden-ip")


def test_ipv6_allowlist_applies_to_clients_connecting_over_ipv6(start_gateway, upstream):
    v6_only = key_entry(allowed_cidrs=["::1/128"])
    v4_only = key_entry(allowed_cidrs=["127.0.0.1/32"])
    port = free_port("::1")
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[v6_only, v4_only]), extra=["--listen", f"[::1]:{port}"])

    def over_v6(key):
        return requests.get(f"http://[::1]:{port}/demo/x", headers={"X-API-Key": key.secret}, timeout=5)

    assert over_v6(v6_only).status_code == 200
    assert over_v6(v4_only).status_code == 403
    assert gw.get("/demo/x", v6_only.secret).status_code == 403
    assert gw.get("/demo/x", v4_only.secret).status_code == 200


def test_forwarded_for_is_trusted_only_from_configured_proxies(start_gateway, upstream):
    key = key_entry(allowed_cidrs=["2001:db8:1::/48", "192.0.2.0/24"])
    trusting = start_gateway(snapshot(1, [api_entry(upstream)], keys=[key]), extra=["--trusted-proxy", "127.0.0.1"])
    untrusting = start_gateway(snapshot(1, [api_entry(upstream)], keys=[key]))

    def via(gw, xff):
        return gw.get("/demo/x", key.secret, headers={"X-Forwarded-For": xff}).status_code

    assert via(trusting, "2001:db8:1:ffff::7") == 200
    assert via(trusting, "192.0.2.55") == 200
    assert via(trusting, "2001:db8:2::7") == 403
    assert via(trusting, "198.51.100.1") == 403
    assert via(untrusting, "2001:db8:1::7") == 403


def test_method_not_offered_by_the_api_is_405_with_allow(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream, methods=["GET"])], keys=[key]))

    r = gw.request("DELETE", "/demo/x", key.secret)

    assert r.status_code == 405
    assert r.headers["Allow"] == "GET"
    assert r.json()["type"].endswith("/method-not-allowed")


def test_body_over_the_apis_limit_is_413(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream, max_body_bytes=1000)], keys=[key]))

    small = gw.request("POST", "/demo/x", key.secret, data=b"a" * 1000)
    big = gw.request("POST", "/demo/x", key.secret, data=b"a" * 1001)
    chunked = gw.request("POST", "/demo/x", key.secret, data=iter([b"a" * 800, b"a" * 800]))

    assert small.status_code == 200
    assert big.status_code == 413
    assert big.headers["Content-Type"] == "application/problem+json"
    assert big.json()["type"].endswith("/body-too-large")
    assert chunked.status_code == 413


def test_body_over_the_gateway_ceiling_is_a_problem_json_413(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream, max_body_bytes=None)], keys=[key]), extra=["--max-body", "2k"])

    r = gw.request("POST", "/demo/x", key.secret, data=b"a" * 4096)

    assert r.status_code == 413
    assert r.json()["type"].endswith("/body-too-large")


def test_the_ceiling_holds_for_every_body_and_no_refusal_logs_a_query_key(start_gateway, upstream):
    """nginx logs its own body refusals with the request line: the ceiling is checked where that line is not kept."""
    key = key_entry()
    api = api_entry(upstream, max_body_bytes=None, allow_query_key=True)
    gw = start_gateway(snapshot(1, [api], keys=[key]), extra=["--max-body", "2k"])
    in_query = f"/demo/x?api_key={key.secret}"

    answers = {
        "length, query key": gw.request("POST", in_query, data=b"a" * 4096),
        "chunked, query key": gw.request("POST", in_query, data=iter([b"a" * 1500, b"a" * 1500])),
        "chunked, header key": gw.request("POST", "/demo/x", key.secret, data=iter([b"a" * 1500, b"a" * 1500])),
    }
    small_chunked = gw.request("POST", "/demo/x", key.secret, data=iter([b"a" * 500, b"a" * 500]))

    assert {case: r.status_code for case, r in answers.items()} == dict.fromkeys(answers, 413)
    assert all(r.json()["type"].endswith("/body-too-large") for r in answers.values())
    assert small_chunked.status_code == 200
    error_log = (gw.runtime_dir / "logs" / "error.log").read_text()
    assert "too large chunked body" in error_log  # the header-key refusal is logged: the log is written
    assert key.secret not in error_log
