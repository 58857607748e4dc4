"""Config: OAuth2 pull from the platform, polled and pushed deltas, atomic big snapshots, persistence."""

from __future__ import annotations

import json
import os
import threading
import time

import requests

from tests.support.gateway import sign
from tests.support.ports import free_port
from tests.support.snapshots import Key, api_entry, change, key_entry, snapshot
from tests.support.waiting import wait_until


def test_gateway_pulls_its_snapshot_as_an_oauth2_client(start_gateway, upstream, platform):
    key = key_entry()
    platform.snapshot = snapshot(4, [api_entry(upstream)], keys=[key])

    gw = start_gateway(extra=platform.args())

    assert gw.get("/demo/x", key.secret).status_code == 200
    assert platform.requests[:2] == ["POST /o/token/", "GET /gateway/v1/config"]
    assert gw.status()["config"]["version"] == 4


def test_wrong_client_secret_leaves_the_gateway_unready(start_gateway, upstream, platform):
    platform.snapshot = snapshot(4, [api_entry(upstream)])
    args = platform.args()
    args[args.index("--client-secret") + 1] = "wrong"

    gw = start_gateway(extra=args, wait_ready=False)
    time.sleep(1)

    assert requests.get(gw.admin_url + "/_portico/ready", timeout=2).status_code == 503
    assert "GET /gateway/v1/config" not in platform.requests


def test_polled_deltas_add_and_revoke_keys(start_gateway, upstream, platform):
    old, new = key_entry(), key_entry()
    platform.snapshot = snapshot(1, [api_entry(upstream)], keys=[old])
    gw = start_gateway(extra=platform.args())

    platform.changes = [
        change(2, "key", new.digest, new.entry),
        change(3, "key", old.digest, {**old.entry, "status": "revoked"}),
    ]
    gw.wait_ready(version=3)

    assert gw.get("/demo/x", new.secret).status_code == 200
    assert gw.get("/demo/x", old.secret).status_code == 401


def test_changes_answering_410_make_the_gateway_pull_the_full_snapshot(start_gateway, upstream, platform):
    old, new = key_entry(), key_entry()
    platform.snapshot = snapshot(1, [api_entry(upstream)], keys=[old])
    gw = start_gateway(extra=platform.args())

    platform.oldest_change = 50
    platform.snapshot = snapshot(60, [api_entry(upstream)], keys=[new])
    gw.wait_ready(version=60)

    assert gw.get("/demo/x", new.secret).status_code == 200
    assert gw.get("/demo/x", old.secret).status_code == 401


def test_pushed_revocation_is_enforced_within_the_same_second(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[key]), workers=2)
    assert gw.get("/demo/x", key.secret).status_code == 200

    pushed = time.monotonic()
    r = gw.push([change(2, "key", key.digest, {**key.entry, "status": "revoked"})], 1, 2)
    statuses = [gw.get("/demo/x", key.secret).status_code for _ in range(10)]
    elapsed = time.monotonic() - pushed

    assert r.json() == {"status": "applied", "version": 2, "durable": True}
    assert statuses == [401] * 10
    assert elapsed < 1


def test_push_applies_changes_in_version_order(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[key]))

    # delete then re-create, delivered out of order in one delta: the end state is "active"
    r = gw.push([change(3, "key", key.digest, key.entry), change(2, "key", key.digest, op="delete")], 1, 3)

    assert r.json()["status"] == "applied"
    assert gw.get("/demo/x", key.secret).status_code == 200


def test_stale_push_is_ignored_and_never_rolls_back(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(5, [api_entry(upstream)], keys=[key]))
    gw.push([change(6, "key", key.digest, op="delete")], 5, 6)

    r = gw.push([change(5, "key", key.digest, key.entry)], 4, 5)

    assert r.json() == {"status": "stale", "version": 6}
    assert gw.get("/demo/x", key.secret).status_code == 401


def test_push_revealing_a_version_gap_triggers_a_full_pull(start_gateway, upstream, platform):
    new = key_entry()
    platform.snapshot = snapshot(1, [api_entry(upstream)])
    gw = start_gateway(extra=[*platform.args()[:-2], "--poll-interval", "3600"])
    platform.snapshot = snapshot(9, [api_entry(upstream)], keys=[new])

    r = gw.push([change(9, "key", new.digest, new.entry)], 8, 9)
    gw.wait_ready(version=9, timeout=3)

    assert r.status_code == 202
    assert r.json()["status"] == "resync"
    assert gw.get("/demo/x", new.secret).status_code == 200


def test_unsigned_tampered_stale_and_replayed_pushes_are_rejected(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[key]))
    body = json.dumps({"from": 1, "to": 2, "changes": [change(2, "key", key.digest, op="delete")]}).encode()
    url = gw.admin_url + "/_portico/config"

    unsigned = requests.post(url, data=body, timeout=5)
    wrong_secret = requests.post(url, data=body, headers=sign("POST", "/_portico/config", body, secret="x"), timeout=5)
    headers = sign("POST", "/_portico/config", body)
    tampered = requests.post(url, data=body.replace(b'"to": 2', b'"to": 3'), headers=headers, timeout=5)
    old = requests.post(
        url, data=body, headers=sign("POST", "/_portico/config", body, ts=int(time.time()) - 120), timeout=5
    )
    other_path = requests.post(gw.admin_url + "/_portico/logs/ack", data=body, headers=headers, timeout=5)
    still_valid = gw.get("/demo/x", key.secret).status_code
    accepted = requests.post(url, data=body, headers=headers, timeout=5)
    replayed = requests.post(url, data=body, headers=headers, timeout=5)

    for r in (unsigned, wrong_secret, tampered, old, other_path, replayed):
        assert r.status_code == 401
        assert r.json()["type"].endswith("/admin-unauthorized")
    assert still_valid == 200
    assert accepted.status_code == 200
    assert "replayed" in replayed.json()["reason"]


def test_restart_with_the_platform_down_serves_the_persisted_config(start_gateway, upstream, platform):
    key, pushed = key_entry(), key_entry()
    platform.snapshot = snapshot(1, [api_entry(upstream)], keys=[key])
    gw = start_gateway(extra=platform.args())
    gw.push([change(2, "key", pushed.digest, pushed.entry)], 1, 2)

    platform.stop()
    gw.restart()

    assert gw.status()["config"]["version"] == 2
    assert gw.get("/demo/x", key.secret).status_code == 200
    assert gw.get("/demo/x", pushed.secret).status_code == 200


def test_fresh_gateway_without_any_snapshot_is_not_ready(start_gateway):
    dead = f"http://127.0.0.1:{free_port()}"
    gw = start_gateway(
        extra=[
            "--config-url",
            dead + "/gateway/v1/config",
            "--token-url",
            dead + "/o/token/",
            "--client-id",
            "a",
            "--client-secret",
            "b",
        ],
        wait_ready=False,
    )
    time.sleep(0.5)

    admin = requests.get(gw.admin_url + "/_portico/ready", timeout=2)
    proxy = requests.get(gw.url + "/_portico/ready", timeout=2)
    api = gw.get("/demo/x")

    assert admin.status_code == 503
    assert proxy.status_code == 503
    assert admin.json()["type"].endswith("/not-ready")
    assert api.status_code == 503


def test_malformed_snapshot_is_rejected_and_the_old_config_kept(start_gateway, upstream, platform):
    key = key_entry()
    platform.snapshot = snapshot(1, [api_entry(upstream)], keys=[key])
    gw = start_gateway(extra=platform.args())

    bad = snapshot(2, [api_entry(upstream)], keys=[key])
    bad["keys"].append({"digest": "not-hex", "status": "active"})
    platform.oldest_change, platform.snapshot = 100, bad
    wait_until(lambda: platform.requests.count("GET /gateway/v1/config") >= 2)

    assert gw.status()["config"]["version"] == 1
    assert gw.get("/demo/x", key.secret).status_code == 200


def test_heartbeat_reports_name_version_and_counters(start_gateway, upstream, platform):
    platform.snapshot = snapshot(3, [api_entry(upstream)])
    start_gateway(extra=[*platform.args(), "--heartbeat-interval", "0.5"], name="edge-7")

    beat = wait_until(lambda: [h for h in platform.heartbeats if h["version"] == 3])[0]

    assert beat["name"] == "edge-7"
    assert isinstance(beat["counters"], dict)
    assert isinstance(beat["errors"], list)


def test_100k_key_snapshot_is_applied_atomically_while_traffic_flows(start_gateway, upstream, platform):
    old = key_entry()
    platform.snapshot = snapshot(1, [api_entry(upstream)], keys=[old])
    gw = start_gateway(extra=platform.args(), workers=2)
    first, last = key_entry(), key_entry()
    filler = [
        Key(
            "",
            {
                "digest": os.urandom(32).hex(),
                "prefix": "ptc_live_filler0",
                "application_id": 5,
                "organisation_id": 2,
                "status": "active",
                "expires_at": None,
                "api_ids": [],
                "allowed_cidrs": ["10.0.0.0/8"],
            },
        )
        for _ in range(100_000 - 3)
    ]
    big = snapshot(2, [api_entry(upstream)], keys=[first, *filler, old, last])

    results: list[tuple[int, int]] = []  # (old key status, first-new-key status) per round
    stop = threading.Event()

    def traffic() -> None:
        with requests.Session() as s:
            while not stop.is_set():
                a = s.get(gw.url + "/demo/x", headers={"X-API-Key": old.secret}, timeout=5).status_code
                b = s.get(gw.url + "/demo/x", headers={"X-API-Key": first.secret}, timeout=5).status_code
                results.append((a, b))

    t = threading.Thread(target=traffic)
    t.start()
    try:
        time.sleep(0.3)
        platform.oldest_change, platform.snapshot = 100, big
        gw.wait_ready(version=2, timeout=60)
        time.sleep(0.3)
    finally:
        stop.set()
        t.join()

    assert {a for a, _ in results} == {200}
    # the first key of the new snapshot only appears with the whole snapshot: 401... then 200..., never back
    statuses = [b for _, b in results]
    flip = statuses.index(200)
    assert set(statuses[:flip]) == {401} and set(statuses[flip:]) == {200}
    assert flip > 0
    assert gw.get("/demo/x", last.secret).status_code == 200
    assert gw.status()["config"]["keys"] == 100_000
