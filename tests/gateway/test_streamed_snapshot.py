"""Snapshots in the platform's streamed layout (docs/gateway-protocol.md §2): downloaded to disk and loaded a slice
at a time, persisted as downloaded, rejected whole when damaged; other JSON layouts still load."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.gateway import Gateway
from tests.support.snapshots import api_entry, key_entry, key_entry_in_test_mode, snapshot, streamed
from tests.support.waiting import wait_until


def _state(gw: Gateway) -> Path:
    return gw.runtime_dir / "state"


def test_a_streamed_snapshot_of_many_slices_is_loaded_and_persisted_as_downloaded(start_gateway, upstream, platform):
    keys = [key_entry() for _ in range(4_500)]  # three slices of 2,000 keys
    platform.snapshot = snapshot(1, [api_entry(upstream)], keys=keys)
    gw = start_gateway(extra=platform.args())

    assert gw.status()["config"]["keys"] == 4_500
    assert all(gw.get("/demo/x", k.secret).status_code == 200 for k in (keys[0], keys[1_999], keys[2_000], keys[-1]))
    assert gw.get("/demo/x", key_entry().secret).status_code == 401
    persisted = wait_until(lambda: (_state(gw) / "snapshot.json").exists() and _state(gw) / "snapshot.json")
    assert persisted.read_text() == streamed(platform.snapshot)
    assert not (_state(gw) / "snapshot.json.part").exists()

    platform.down = True  # the persisted streamed snapshot is loaded at start, without the platform
    gw.restart()
    assert gw.status()["config"]["keys"] == 4_500
    assert gw.get("/demo/x", keys[-1].secret).status_code == 200


@pytest.mark.parametrize("damage", ["malformed key line", "truncated"])
def test_a_damaged_streamed_snapshot_is_rejected_whole_and_the_last_good_config_stays(
    start_gateway, upstream, platform, damage
):
    old, new = key_entry(), [key_entry() for _ in range(2_500)]
    platform.snapshot = snapshot(1, [api_entry(upstream)], keys=[old])
    gw = start_gateway(extra=[*platform.args(), "--heartbeat-interval", "0.5"])
    good = snapshot(2, [api_entry(upstream)], keys=new)
    lines = streamed(good).splitlines(keepends=True)
    if damage == "malformed key line":
        lines[2_200] = lines[2_200].replace('"digest":"', '"digest":"zz', 1)  # in the second slice
    else:
        lines = lines[:-1]  # the connection cut before `]}`
    platform.snapshot_text = "".join(lines)
    platform.snapshot, platform.oldest_change = good, 100  # the feed answers 410: a full pull

    wait_until(lambda: any("snapshot rejected" in e["error"] for h in platform.heartbeats for e in h["errors"]))
    assert gw.status()["config"]["version"] == 1
    assert gw.get("/demo/x", old.secret).status_code == 200
    assert gw.get("/demo/x", new[0].secret).status_code == 401  # the first slice was not applied either
    assert not (_state(gw) / "snapshot.json.part").exists()


def test_a_snapshot_file_in_either_layout_is_loaded(start_gateway, upstream, tmp_path):
    key = key_entry()
    doc = snapshot(1, [api_entry(upstream)], keys=[key, *[key_entry() for _ in range(2_100)]])
    file = tmp_path / "streamed.json"
    file.write_text(streamed(doc))
    gw = start_gateway(extra=["--snapshot-file", str(file)])
    gw.wait_ready(version=1)
    assert gw.status()["config"]["keys"] == 2_101
    assert gw.get("/demo/x", key.secret).status_code == 200
    assert (_state(gw) / "snapshot.json").read_text() == file.read_text()  # persisted as a copy
    assert file.exists()

    one_line = start_gateway(doc)  # json.dumps: one line
    assert one_line.status()["config"]["keys"] == 2_101
    assert one_line.get("/demo/x", key.secret).status_code == 200


def test_every_kind_of_key_line_is_enforced_as_the_platform_says(start_gateway, upstream, platform):
    """Plain lines are cut out by one match, the others decoded as JSON: both must mean the same thing."""
    plain = key_entry()
    expired = key_entry(expires_at=1_000_000_000)  # a plain line with an expiry in 2001
    other_api = key_entry(api_ids=[99])  # scoped to an API this request is not for
    allowlisted = key_entry(allowed_cidrs=["10.0.0.0/8"])  # not plain: decoded as JSON
    revoked = key_entry(status="revoked")
    test_mode = key_entry_in_test_mode()  # not plain ("environment":"test" last): the API has no sandbox for it
    keys = [plain, expired, other_api, allowlisted, revoked, test_mode]
    platform.snapshot = snapshot(1, [api_entry(upstream)], keys=keys)
    gw = start_gateway(extra=platform.args())

    assert gw.status()["config"]["keys"] == 5
    assert gw.get("/demo/x", plain.secret).status_code == 200
    assert gw.get("/demo/x", expired.secret).status_code == 401
    assert gw.get("/demo/x", other_api.secret).status_code == 403
    assert gw.get("/demo/x", allowlisted.secret).status_code == 403
    assert gw.get("/demo/x", revoked.secret).status_code == 401
    assert gw.get("/demo/x", test_mode.secret).json()["type"].endswith("/test-key-no-sandbox")
