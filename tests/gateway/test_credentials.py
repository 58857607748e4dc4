"""Credentials: where keys are read, how they are checked, what reaches the upstream."""

from __future__ import annotations

import http.client
import json
import socket
import time

from keys.tokens import checksum
from tests.support.snapshots import api_entry, key_entry, make_key, snapshot, subscription_entry
from tests.support.waiting import wait_until


def test_key_is_accepted_from_the_bearer_authorization_header(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[key]))

    r = gw.get("/demo/x", headers={"Authorization": f"Bearer {key.secret}"})

    assert r.status_code == 200
    assert "authorization" not in r.json()["headers"]


def test_key_is_accepted_from_the_apis_configured_header_and_stripped(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream, key_header="X-Acme-Token")], keys=[key]))

    ok = gw.get("/demo/x", headers={"X-Acme-Token": key.secret})
    default_header = gw.get("/demo/x", headers={"X-API-Key": key.secret})

    assert ok.status_code == 200
    assert "x-acme-token" not in ok.json()["headers"]
    assert default_header.status_code == 401


def test_non_bearer_authorization_is_left_for_the_upstream(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[key]))

    r = gw.get("/demo/x", key.secret, headers={"Authorization": "Basic dXNlcjpwYXNz"})

    assert r.json()["headers"]["authorization"] == "Basic dXNlcjpwYXNz"
    assert "x-api-key" not in r.json()["headers"]


def test_query_string_key_is_refused_unless_the_api_allows_it(start_gateway, upstream):
    key = key_entry()
    apis = [
        api_entry(upstream, 1, "/strict"),
        api_entry(upstream, 2, "/lenient", allow_query_key=True, query_key_param="api_key"),
    ]
    subs = [subscription_entry(7, api_id=1), subscription_entry(8, api_id=2)]
    gw = start_gateway(snapshot(1, apis, subscriptions=subs, keys=[key]))

    strict = gw.get(f"/strict/x?api_key={key.secret}")
    lenient = gw.get(f"/lenient/x?a=1&api_key={key.secret}&b=2")

    assert strict.status_code == 401
    assert strict.json()["type"].endswith("/missing-key")
    assert lenient.status_code == 200
    assert key.secret not in lenient.json()["query"]
    assert sorted(lenient.json()["query"].split("&")) == ["a=1", "b=2"]


def test_missing_key_is_401_with_its_own_problem_type(start_gateway, upstream):
    gw = start_gateway(snapshot(1, [api_entry(upstream)]))

    r = gw.get("/demo/x")

    assert r.status_code == 401
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert r.json()["type"] == "https://portico.dev/problems/missing-key"


def test_bad_checksum_unknown_and_revoked_keys_get_the_same_answer(start_gateway, upstream):
    revoked = key_entry(status="revoked")
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[revoked]))
    good = make_key()
    bad_checksum = good[:-6] + ("000000" if good[-6:] != "000000" else "000001")
    wrong_prefix = "ptc_prod_" + good[9:52]
    wrong_prefix += checksum(wrong_prefix)

    answers = [gw.get("/demo/x", k) for k in (bad_checksum, make_key(), revoked.secret, wrong_prefix, "short")]

    assert {r.status_code for r in answers} == {401}
    bodies = [{k: v for k, v in r.json().items() if k != "request_id"} for r in answers]
    assert all(b == bodies[0] for b in bodies)
    assert bodies[0]["type"].endswith("/invalid-key")


def test_expired_key_is_refused_with_its_own_problem_type(start_gateway, upstream):
    key = key_entry(expires_at=time.time() - 1)
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[key]))

    r = gw.get("/demo/x", key.secret)

    assert r.status_code == 401
    assert r.json()["type"].endswith("/expired-key")


def test_rotated_key_works_during_its_grace_period_and_not_after(start_gateway, upstream):
    old = key_entry(expires_at=time.time() + 1.5)
    new = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[old, new]))

    during = [gw.get("/demo/x", k.secret).status_code for k in (old, new)]
    time.sleep(max(0.0, old.entry["expires_at"] - time.time()) + 0.1)
    after = [gw.get("/demo/x", k.secret).status_code for k in (old, new)]

    assert during == [200, 200]
    assert after == [401, 200]


def test_identity_headers_are_added_and_client_forgeries_removed(start_gateway, upstream):
    key = key_entry(application_id=5, organisation_id=2)
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[key]))

    r = gw.get(
        "/demo/x", key.secret, headers={"X-Portico-Application": "999", "X-Portico-Admin": "yes", "x-portico-plan": "0"}
    )

    headers = r.json()["headers"]
    assert headers["x-portico-application"] == "5"
    assert headers["x-portico-organisation"] == "2"
    assert headers["x-portico-plan"] == "3"
    assert headers["x-portico-key-prefix"] == key.secret[:16]
    assert "x-portico-admin" not in headers
    assert "x-api-key" not in headers


def get_from(source_ip: str, port: int, path: str, key: str) -> tuple[int, bytes]:
    """One GET from another loopback address (all of 127.0.0.0/8 reaches the gateway on Linux)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source_ip, 0)) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]), data


def test_unknown_key_flood_is_throttled_per_address_and_writes_nothing_to_the_error_log(start_gateway, upstream):
    in_use, idle = key_entry(), key_entry()
    gw = start_gateway(
        snapshot(1, [api_entry(upstream)], keys=[in_use, idle]),
        extra=["--invalid-key-limit", "20", "--invalid-key-window", "30"],
    )
    before = gw.proc.error_log()
    assert gw.get("/demo/x", in_use.secret).status_code == 200

    flood = [gw.get("/demo/x", k) for k in [make_key() for _ in range(150)] + ["garbage"] * 50]
    statuses = [r.status_code for r in flood]

    assert statuses == [401] * 20 + [429] * 180
    throttled = flood[-1]
    assert throttled.headers["Content-Type"] == "application/problem+json"
    assert throttled.json()["type"] == "https://portico.dev/problems/too-many-invalid-keys"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 30
    # a key this worker verified recently is not looked up again, so it keeps working;
    # any other key from the throttled address waits like the flood (no lookup is made)
    assert gw.get("/demo/x", in_use.secret).status_code == 200
    assert gw.get("/demo/x", idle.secret).status_code == 429
    # another address is unaffected
    status, _ = get_from("127.0.0.2", gw.port, "/demo/x", make_key())
    assert status == 401
    status, _ = get_from("127.0.0.2", gw.port, "/demo/x", idle.secret)
    assert status == 200
    assert gw.proc.error_log() == before
    # counters reach the shared status within a flush interval
    wait_until(lambda: gw.status()["counters"]["denied"].get("too-many-invalid-keys", 0) >= 181, timeout=3)


def test_invalid_key_throttling_ends_with_its_window(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(
        snapshot(1, [api_entry(upstream)], keys=[key]), extra=["--invalid-key-limit", "3", "--invalid-key-window", "1"]
    )

    statuses = [gw.get("/demo/x", make_key()).status_code for _ in range(5)]
    time.sleep(1.2)

    assert statuses == [401, 401, 401, 429, 429]
    assert gw.get("/demo/x", key.secret).status_code == 200


def test_a_request_waiting_for_its_body_keeps_its_own_headers(start_gateway, upstream):
    """The access phase yields while it reads a chunked body (the API's size limit needs it):
    another request handled by the same worker meanwhile must not lend it its headers."""
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[key]))
    slow = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    slow.sendall(
        (
            f"POST /demo/slow HTTP/1.1\r\nHost: x\r\nX-API-Key: {key.secret}\r\n"
            "Authorization: Basic c2xvdzpzbG93\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        ).encode()
    )
    time.sleep(0.3)  # the slow request is now parked in the body read

    other = gw.get("/demo/other", key.secret, headers={"Authorization": "Basic b3RoZXI6b3RoZXI="})
    slow.sendall(b"2\r\nhi\r\n0\r\n\r\n")
    answer = http.client.HTTPResponse(slow)
    answer.begin()
    body = json.loads(answer.read())
    slow.close()

    assert other.json()["headers"]["authorization"] == "Basic b3RoZXI6b3RoZXI="
    assert body["headers"]["authorization"] == "Basic c2xvdzpzbG93"
    assert "x-api-key" not in body["headers"]
