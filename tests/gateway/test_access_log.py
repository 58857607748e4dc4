"""Access log: compact records, sequenced batches on disk, cursor + ack, no loss on reload/restart/crash."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.support.snapshots import api_entry, key_entry, plan_entry, snapshot
from tests.support.waiting import wait_until


def raw_request(port: int, head: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(head)
        return s.recv(65536)


def spool_bytes(spool: Path) -> int:
    """Size of the spool's segments; the gateway may delete one while we look (oldest dropped first)."""
    total = 0
    for segment in spool.glob("seg-*.log"):
        try:
            total += segment.stat().st_size
        except FileNotFoundError:
            pass
    return total


def test_each_request_yields_one_compact_record(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[key]))

    ok = gw.request("POST", "/demo/items?secret=hidden", key.secret, data=b"12345")
    gw.get("/demo/items")
    records = gw.wait_records(2)

    assert len(records) == 2
    first, second = records
    assert first["id"] == ok.headers["X-Request-Id"]
    assert (first["m"], first["p"], first["s"]) == ("POST", "/demo/items", 200)
    assert (first["api"], first["app"], first["org"], first["sub"], first["plan"]) == (1, 5, 2, 7, 3)
    assert first["key"] == key.secret[:16]
    assert first["lim"] == "ok"
    assert first["ip"] == "127.0.0.1"
    assert first["bi"] > 5 and first["bo"] > 0
    # nginx takes rt from the wall clock and ut from the monotonic one, each rounded to ms
    assert first["rt"] + 0.002 >= first["ut"] >= 0
    assert abs(first["t"] - time.time()) < 10
    assert (second["s"], second["api"]) == (401, 1)
    assert (second["key"], second["app"], second["lim"]) == ("", None, "")
    assert not any("hidden" in json.dumps(r) for r in records)


def test_client_supplied_values_cannot_forge_records(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[key]))
    # HTTP itself forbids raw CR/LF in a header, so quotes, backslashes, braces, escapes and
    # non-UTF-8 bytes are what a client can smuggle; an encoded newline stays encoded in the path
    forged_id = 'x","s":200,"forged":"1\\"}\t{"t":0,"p":"/admin"}\x1b[31m\xff'
    path = '/demo/a"b\\c%0A{"t":0}'

    raw_request(
        gw.port,
        (
            f"GET {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {key.secret}\r\n"
            f"X-Request-Id: {forged_id}\r\nConnection: close\r\n\r\n"
        ).encode("latin-1"),
    )
    records = gw.wait_records(1)

    assert len(records) == 1
    assert "forged" not in records[0]
    assert records[0]["id"] == forged_id.encode("latin-1").decode("latin-1")
    assert records[0]["p"] == path
    spool = b"".join(p.read_bytes() for p in (gw.runtime_dir / "spool").glob("seg-*.log"))
    assert spool.count(b"\n") == 1
    assert b"\x1b" not in spool and b"\xff" not in spool


@pytest.mark.parametrize(
    ("path", "request_id"),
    [
        ("/demo/plain", "client-id-1.2:3"),  # nothing to escape: the unescaped record format
        ('/demo/a"quote', "client-id-2"),  # a quote in the path alone
        ("/demo/back\\slash", "client-id-3"),  # a backslash in the path alone
        ("/demo/plain", 'id-with-"quote'),  # a quote in the request id alone
        ("/demo/plain", "id-with-\x1bescape"),  # a control character in the request id alone
    ],
)
def test_admitted_records_stay_valid_json_whatever_the_client_sends(start_gateway, upstream, path, request_id):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[key]))

    raw_request(
        gw.port,
        (
            f"GET {path}?q=1 HTTP/1.1\r\nHost: x\r\nX-API-Key: {key.secret}\r\n"
            f"X-Request-Id: {request_id}\r\nConnection: close\r\n\r\n"
        ).encode("latin-1"),
    )
    (record,) = gw.wait_records(1)

    assert (record["p"], record["id"], record["s"], record["lim"]) == (path, request_id, 200, "ok")
    assert (record["api"], record["app"], record["sub"], record["key"]) == (1, 5, 7, key.secret[:16])


def test_denied_records_carry_every_id_known_when_the_request_was_refused(start_gateway, upstream):
    key = key_entry()
    fenced = key_entry(allowed_cidrs=["10.0.0.0/8"])
    plans = [plan_entry(rate_per_minute=1)]
    gw = start_gateway(snapshot(1, [api_entry(upstream)], plans=plans, keys=[key, fenced]))

    statuses = [gw.get(f"/demo/a{i}", key.secret).status_code for i in range(2)]
    statuses.append(gw.get("/demo/b", fenced.secret).status_code)
    statuses.append(gw.get("/demo/c", "ptc_live_not-a-key").status_code)
    records = {r["p"]: r for r in gw.wait_records(4)}
    records = [records[p] for p in ("/demo/a0", "/demo/a1", "/demo/b", "/demo/c")]

    assert statuses == [200, 429, 403, 401]
    assert [(r["s"], r["api"], r["app"], r["sub"], r["plan"], r["lim"]) for r in records] == [
        (200, 1, 5, 7, 3, "ok"),
        (429, 1, 5, 7, 3, "rate"),
        (403, 1, 5, 7, 3, ""),
        (401, 1, None, None, None, ""),
    ]


def test_batches_are_sequenced_and_the_sequence_survives_a_restart(start_gateway, upstream):
    gw = start_gateway(snapshot(1, [api_entry(upstream)]))
    gw.get("/demo/a")
    gw.wait_records(1)
    time.sleep(0.3)
    gw.get("/demo/b")
    gw.wait_records(2)
    before = gw.logs()

    gw.restart()
    gw.get("/demo/c")
    after = wait_until(lambda: len((d := gw.logs())["batches"]) > len(before["batches"]) and d)

    seqs = [b["sequence"] for b in after["batches"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert seqs[: len(before["batches"])] == [b["sequence"] for b in before["batches"]]
    assert after["next_after"] == seqs[-1]
    assert after["gateway"] == "edge-1"
    assert [r["p"] for b in after["batches"] for r in b["records"]] == ["/demo/a", "/demo/b", "/demo/c"]


def test_cursor_and_ack_return_each_batch_until_acknowledged_then_delete_it(start_gateway, upstream):
    gw = start_gateway(snapshot(1, [api_entry(upstream)]), extra=["--spool-segment-bytes", "600"])
    for i in range(6):
        gw.get(f"/demo/{i}")
        time.sleep(0.25)  # one flush each -> one batch each, several segments
    gw.wait_records(6)
    first = gw.logs()
    mid = first["batches"][2]["sequence"]
    segments_before = len(list((gw.runtime_dir / "spool").glob("seg-*.log")))

    ack = gw.signed("POST", "/_portico/logs/ack", json.dumps({"sequence": mid}).encode())
    rest = gw.logs(after=mid)
    again = gw.logs(after=mid)

    assert all(b["count"] == len(b["records"]) for b in first["batches"])
    assert ack.json() == {"acked": mid}
    assert [b["sequence"] for b in rest["batches"]] == [b["sequence"] for b in first["batches"][3:]]
    assert again == rest
    assert len(list((gw.runtime_dir / "spool").glob("seg-*.log"))) < segments_before
    assert gw.status()["log"]["acked"] == mid


def test_log_endpoints_require_a_signature(start_gateway, upstream):
    import requests

    gw = start_gateway(snapshot(1, [api_entry(upstream)]))

    assert requests.get(gw.admin_url + "/_portico/logs?after=0", timeout=5).status_code == 401
    assert requests.post(gw.admin_url + "/_portico/logs/ack", json={"sequence": 1}, timeout=5).status_code == 401


def test_no_record_is_lost_across_a_reload(start_gateway, upstream):
    gw = start_gateway(snapshot(1, [api_entry(upstream)]), workers=2, extra=["--log-flush-interval", "5"])
    for i in range(50):
        gw.get(f"/demo/{i}")

    gw.reload()

    assert len(gw.wait_records(50)) == 50


def test_no_record_is_lost_across_a_graceful_restart(start_gateway, upstream):
    gw = start_gateway(snapshot(1, [api_entry(upstream)]), workers=2, extra=["--log-flush-interval", "5"])
    for i in range(50):
        gw.get(f"/demo/{i}")

    gw.restart()

    assert len(gw.wait_records(50)) == 50


def test_a_crashed_worker_loses_nothing_older_than_the_flush_interval(start_gateway, upstream):
    gw = start_gateway(snapshot(1, [api_entry(upstream)]), workers=1)
    for i in range(30):
        gw.get(f"/demo/{i}")
    time.sleep(0.2 * 2 + 0.1)  # flush interval is 0.2 s in these tests

    (worker,) = gw.proc.worker_pids()
    os.kill(worker, signal.SIGKILL)
    wait_until(lambda: gw.proc.worker_pids() not in ([], [worker]))
    gw.session.close()
    for i in range(30, 40):
        gw.get(f"/demo/{i}")

    paths = [r["p"] for r in gw.wait_records(40)]
    assert paths == [f"/demo/{i}" for i in range(40)]


def test_spool_is_bounded_and_dropped_records_are_counted(start_gateway, upstream):
    gw = start_gateway(
        snapshot(1, [api_entry(upstream)]), extra=["--spool-segment-bytes", "2000", "--spool-max-bytes", "6000"]
    )
    for round_ in range(8):
        for i in range(8):
            gw.get(f"/demo/{round_}/{i}")
        time.sleep(0.25)

    status = wait_until(lambda: (s := gw.status()) and s["counters"]["log_records_dropped"] > 0 and s)

    assert spool_bytes(gw.runtime_dir / "spool") <= 6000 + 2000
    assert status["counters"]["log_records_dropped"] >= 8
    assert gw.records()[0]["p"] != "/demo/0/0"


def test_status_reports_config_keys_dicts_and_counters(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(7, [api_entry(upstream)], keys=[key, key_entry()]))
    gw.get("/demo/x", key.secret)
    gw.get("/demo/x")
    gw.get("/demo/x", "ptc_live_nope")

    status = wait_until(lambda: (s := gw.status()) and s["counters"]["requests"] >= 3 and s)
    time.sleep(0.5)  # a few more flush intervals: nothing else may be counted
    status = gw.status()

    assert status["name"] == "edge-1" and status["ready"] is True
    assert status["config"]["version"] == 7
    assert status["config"]["keys"] == 2
    dicts = status["config"]["shared_dicts"]
    assert dicts["portico_keys_a"]["capacity"] > dicts["portico_keys_a"]["free"] > 0
    assert status["counters"]["denied"] == {"missing-key": 1, "invalid-key": 1}
    assert status["counters"]["requests"] == 3
    assert status["counters"]["log_records_dropped"] == 0
    assert status["log"]["sequence"] >= 1


def test_raw_access_log_is_rotated_without_losing_or_repeating_records(start_gateway, upstream):
    gw = start_gateway(snapshot(1, [api_entry(upstream)]), workers=2, extra=["--access-log-rotate-bytes", "3000"])
    for round_ in range(6):
        for i in range(10):
            gw.get(f"/demo/{round_}/{i}")
        time.sleep(0.3)

    paths = [r["p"] for r in gw.wait_records(60, timeout=10)]
    spool_dir = gw.runtime_dir / "spool"
    rotated_gone = wait_until(lambda: not list(spool_dir.glob("access.log.*")), timeout=10)

    assert sorted(paths) == sorted(f"/demo/{r}/{i}" for r in range(6) for i in range(10))
    assert rotated_gone
    assert max(int(b["src"].split(":")[0]) for b in gw.logs()["batches"]) >= 1  # read past a rotation
