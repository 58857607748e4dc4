"""CORS at the gateway: origins an API lists get grants (preflights answered without a key, refusals readable),
every other origin gets no CORS header at all."""

from __future__ import annotations

from tests.support.snapshots import api_entry, key_entry, snapshot, subscription_entry

CONSOLE = "http://portal.example.test:8000"
CORS_HEADERS = ("Access-Control-Allow-Origin", "Access-Control-Expose-Headers", "Access-Control-Allow-Methods")


def _gateway(start_gateway, upstream, **api):
    key = key_entry()
    apis = [api_entry(upstream, cors_origins=[CONSOLE], **api)]
    return start_gateway(snapshot(1, apis, subscriptions=[subscription_entry()], keys=[key])), key


def _preflight(gw, origin, method="GET"):
    headers = {"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": "x-api-key"}
    return gw.request("OPTIONS", "/demo/anything", headers=headers)


def test_a_preflight_from_an_allowed_origin_is_answered_without_a_key(start_gateway, upstream):
    gw, _ = _gateway(start_gateway, upstream)
    answer = _preflight(gw, CONSOLE)
    assert answer.status_code == 204
    assert answer.headers["Access-Control-Allow-Origin"] == CONSOLE
    assert answer.headers["Access-Control-Allow-Methods"] == "GET, POST"
    assert "X-API-Key" in answer.headers["Access-Control-Allow-Headers"]
    assert answer.headers["Vary"] == "Origin" and answer.headers["Access-Control-Max-Age"] == "600"


def test_an_admitted_call_and_a_refusal_from_an_allowed_origin_can_be_read_by_the_page(start_gateway, upstream):
    gw, key = _gateway(start_gateway, upstream, methods=["GET"])
    admitted = gw.get("/demo/anything", key.secret, headers={"Origin": CONSOLE})
    refused = gw.get("/demo/anything", "ptc_live_" + "0" * 49, headers={"Origin": CONSOLE})
    wrong_method = gw.request("POST", "/demo/anything", key.secret, headers={"Origin": CONSOLE})
    for answer, status in ((admitted, 200), (refused, 401), (wrong_method, 405)):
        assert answer.status_code == status
        assert answer.headers["Access-Control-Allow-Origin"] == CONSOLE
        assert "X-Request-Id" in answer.headers["Access-Control-Expose-Headers"]


def test_any_other_origin_gets_no_grant(start_gateway, upstream):
    gw, key = _gateway(start_gateway, upstream)
    stranger = "https://evil.example"
    preflight = _preflight(gw, stranger)
    call = gw.get("/demo/anything", key.secret, headers={"Origin": stranger})
    no_origin = gw.get("/demo/anything", key.secret)
    assert preflight.status_code == 401  # no key: an ordinary request, refused, without CORS headers
    assert call.status_code == 200 and no_origin.status_code == 200
    for answer in (preflight, call, no_origin):
        assert not any(name in answer.headers for name in CORS_HEADERS)
        assert "Vary" not in answer.headers


def test_an_api_without_listed_origins_grants_none(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], subscriptions=[subscription_entry()], keys=[key]))
    assert "Access-Control-Allow-Origin" not in _preflight(gw, CONSOLE).headers
