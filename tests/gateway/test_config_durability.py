"""Gateway state that cannot silently lose a change: journal checksums and continuity, durable writes on a full
disk, all-or-nothing deltas, a full keys dict, journal compaction (docs/gateway-protocol.md §3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from tests.support.disk import fill, is_root, small_disk
from tests.support.gateway import Gateway
from tests.support.snapshots import api_entry, change, key_entry, snapshot
from tests.support.waiting import wait_until

NO_SPACE = "No space left on device"


def _no_poll(platform) -> list[str]:
    """The platform's options with polling all but off: only pushes and the gateway's own recovery move it."""
    return [*platform.args()[:-2], "--poll-interval", "3600"]


def _journal(gw: Gateway) -> Path:
    return gw.runtime_dir / "state" / "journal.jsonl"


def _persisted_version(gw: Gateway) -> int:
    return json.loads((gw.runtime_dir / "state" / "snapshot.json").read_text())["version"]


def _ready(gw: Gateway) -> requests.Response:
    return requests.get(gw.admin_url + "/_portico/ready", timeout=2)


@pytest.mark.parametrize("damage", ["corrupted", "lost"])
def test_replay_stops_at_a_damaged_or_lost_journal_line_and_fetches_the_rest_before_ready(
    start_gateway, upstream, platform, damage
):
    kept, revoked, added = key_entry(), key_entry(), key_entry()
    platform.snapshot = snapshot(1, [api_entry(upstream)], keys=[kept, revoked])
    gw = start_gateway(extra=_no_poll(platform))
    platform.changes = [
        change(2, "key", kept.digest, kept.entry),
        change(3, "key", revoked.digest, {**revoked.entry, "status": "revoked"}),
        change(4, "key", added.digest, added.entry),
    ]
    for c in platform.changes:
        assert gw.push([c], c["version"] - 1, c["version"]).json()["status"] == "applied"
    gw.stop()
    lines = _journal(gw).read_text().splitlines(keepends=True)
    assert len(lines) == 3
    if damage == "corrupted":  # one flipped byte in the revocation's line
        lines[1] = lines[1].replace('"revoked"', '"revokef"')
    else:
        del lines[1]
    _journal(gw).write_text("".join(lines))

    platform.down = True
    gw.start(wait_ready=False)
    behind = wait_until(lambda: (r := _ready(gw)).status_code == 503 and "catching up" in r.text and r.json())
    serving = gw.status()["config"]["version"]
    platform.down = False
    gw.wait_ready(version=4)

    assert behind["version"] == 2 == serving
    assert "GET /gateway/v1/changes?after=2" in platform.requests
    assert gw.get("/demo/x", revoked.secret).status_code == 401
    assert gw.get("/demo/x", added.secret).status_code == 200
    # the journal was cut back to its good part and goes on from there: the next start needs nobody
    platform.down = True
    gw.restart()
    assert gw.status()["config"]["version"] == 4
    assert gw.get("/demo/x", revoked.secret).status_code == 401


@pytest.mark.skipif(not is_root(), reason="mounting a small tmpfs needs root")
def test_a_full_disk_keeps_the_last_good_snapshot_reports_it_and_recovers(start_gateway, upstream, platform, tmp_path):
    key, later, pushed = key_entry(), key_entry(), key_entry()
    platform.snapshot = snapshot(1, [api_entry(upstream)], keys=[key])
    with small_disk(tmp_path / "gw0" / "runtime" / "state") as state:  # start_gateway's first gateway keeps it here
        gw = start_gateway(extra=[*platform.args(), "--heartbeat-interval", "0.5"])
        wait_until(lambda: (state / "snapshot.json").exists() and _persisted_version(gw) == 1)
        filler = fill(state)

        platform.oldest_change, platform.snapshot = 100, snapshot(2, [api_entry(upstream)], keys=[key, later])
        gw.wait_ready(version=2)
        reported = wait_until(lambda: gw.status()["state"]["persist_error"])
        beat = wait_until(lambda: [h for h in platform.heartbeats if h.get("alarms", {}).get("persist_error")])[-1]
        answer = gw.push([change(3, "key", pushed.digest, pushed.entry)], 2, 3).json()

        assert NO_SPACE in reported
        assert NO_SPACE in beat["alarms"]["persist_error"]
        assert _persisted_version(gw) == 1  # whole, not a truncated version 2
        assert answer == {"status": "applied", "version": 3, "durable": False}
        assert gw.get("/demo/x", pushed.secret).status_code == 200

        # restarted with the platform away: the last good snapshot, not an unreadable one
        platform.down = True
        gw.restart()
        assert gw.status()["config"]["version"] == 1
        assert gw.get("/demo/x", key.secret).status_code == 200

        # the platform back, the disk still full: caught up in memory, the failure reported again
        platform.snapshot = snapshot(3, [api_entry(upstream)], keys=[key, later, pushed])
        platform.down = False
        gw.wait_ready(version=3)
        wait_until(lambda: gw.status()["state"]["persist_error"])

        # space again: persisted at the next attempt, and the alarm goes away
        filler.unlink()
        wait_until(lambda: gw.status()["state"]["persist_error"] is None, timeout=15)
        assert _persisted_version(gw) == 3
        gw.stop()


def test_a_delta_failing_midway_applies_nothing_and_the_gateway_pulls_the_snapshot(start_gateway, upstream, platform):
    key, first = key_entry(), key_entry()
    broken = change(3, "key", "not-a-digest", {"digest": "not-a-digest", "status": "active"})
    platform.snapshot = snapshot(1, [api_entry(upstream)], keys=[key])
    gw = start_gateway(extra=_no_poll(platform))

    r = gw.push([change(2, "key", first.digest, first.entry), broken], 1, 3)
    nothing_applied = gw.get("/demo/x", first.secret).status_code
    platform.snapshot = snapshot(3, [api_entry(upstream)], keys=[key, first])
    gw.wait_ready(version=3)

    assert r.status_code == 202
    assert r.json()["status"] == "resync"
    assert "change 3" in r.json()["reason"]
    assert nothing_applied == 401
    assert gw.get("/demo/x", first.secret).status_code == 200


def test_a_polled_delta_that_fails_is_not_retried_forever(start_gateway, upstream, platform):
    key, first = key_entry(), key_entry()
    platform.snapshot = snapshot(1, [api_entry(upstream)], keys=[key])
    gw = start_gateway(extra=platform.args())
    platform.changes = [
        change(2, "key", first.digest, first.entry),
        change(3, "key", "not-a-digest", {"digest": "not-a-digest", "status": "active"}),
    ]
    platform.snapshot = snapshot(3, [api_entry(upstream)], keys=[key, first])

    gw.wait_ready(version=3)

    assert gw.get("/demo/x", first.secret).status_code == 200


def _fillers(count: int, first_version: int) -> list[dict]:
    return [change(first_version + i, "key", (k := key_entry()).digest, k.entry) for i in range(count)]


def test_a_full_keys_dict_still_applies_revocations_and_counts_what_it_could_not_hold(
    start_gateway, upstream, platform
):
    kept, revoked = key_entry(), key_entry()
    platform.snapshot = snapshot(1, [api_entry(upstream)], keys=[kept, revoked])
    gw = start_gateway(extra=[*_no_poll(platform), "--keys-dict-size", "128k", "--heartbeat-interval", "0.5"])
    fillers = _fillers(3000, 2)  # far more than 128 KiB holds
    revocation = change(3002, "key", revoked.digest, {**revoked.entry, "status": "revoked"})

    r = gw.push([*fillers, revocation], 1, 3002)
    config = gw.status()["config"]
    beat = wait_until(lambda: [h for h in platform.heartbeats if h.get("alarms", {}).get("keys_not_held")])[-1]

    assert r.json()["status"] == "applied"
    assert gw.get("/demo/x", revoked.secret).status_code == 401
    assert gw.get("/demo/x", kept.secret).status_code == 200
    assert config["keys_not_held"] > 0
    assert config["keys"] + config["keys_not_held"] == 3001  # every key is either held or counted
    assert beat["alarms"]["keys_not_held"] == config["keys_not_held"]


def test_a_snapshot_bigger_than_the_keys_dict_is_loaded_with_its_revocations(start_gateway, upstream, platform):
    kept, revoked = key_entry(), key_entry()
    platform.snapshot = snapshot(1, [api_entry(upstream)], keys=[kept, revoked])
    gw = start_gateway(extra=[*platform.args(), "--keys-dict-size", "128k"])
    many = [key_entry() for _ in range(3000)]

    platform.oldest_change, platform.snapshot = 100, snapshot(2, [api_entry(upstream)], keys=[kept, *many])
    gw.wait_ready(version=2)
    config = gw.status()["config"]

    assert gw.get("/demo/x", revoked.secret).status_code == 401
    assert gw.get("/demo/x", kept.secret).status_code == 200
    assert config["keys"] + config["keys_not_held"] == 3001
    assert config["keys_not_held"] > 0


def test_the_journal_is_compacted_into_a_persisted_snapshot_past_its_threshold(start_gateway, upstream, platform):
    keys = [key_entry() for _ in range(6)]
    platform.snapshot = snapshot(1, [api_entry(upstream)], keys=keys[:1])
    gw = start_gateway(extra=[*_no_poll(platform), "--journal-max-entries", "3"])
    platform.changes = [change(v, "key", keys[v - 1].digest, keys[v - 1].entry) for v in range(2, 7)]
    platform.snapshot = snapshot(6, [api_entry(upstream)], keys=keys)

    for c in platform.changes:
        assert gw.push([c], c["version"] - 1, c["version"]).json()["status"] in ("applied", "stale")
    wait_until(lambda: _persisted_version(gw) == 6)
    lines = _journal(gw).read_text().splitlines()

    assert len(lines) < 3
    assert gw.status()["state"]["journal_entries"] == len(lines)
    platform.down = True
    gw.restart()
    assert gw.status()["config"]["version"] == 6
    assert all(gw.get("/demo/x", k.secret).status_code == 200 for k in keys)
