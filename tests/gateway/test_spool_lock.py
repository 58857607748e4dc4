"""The spool lock: a long catch-up of the raw log and the platform's acks take turns on the segment index.

The gateway's clock runs 10 times as fast (libfaketime; its timers stay on real time), so a catch-up of a few real
seconds outlasts lock TTLs and ack waits as a many times longer one would on a real clock.
"""

from __future__ import annotations

import time

from tests.support.snapshots import api_entry, snapshot
from tests.support.waiting import wait_until

BACKLOG_BYTES = 48 * 1024 * 1024  # below the raw log's rotation size (64 MiB): one file to catch up on
CLOCK_RATE = 10


def test_acks_are_answered_during_a_long_catch_up_and_every_record_is_spooled_once(start_gateway, upstream):
    options = ["--workers", "2", "--spool-segment-bytes", str(1 << 20)]
    gw = start_gateway(snapshot(1, [api_entry(upstream)]), extra=options, clock_rate=CLOCK_RATE)
    gw.get("/demo/x")
    raw = gw.runtime_dir / "spool" / "access.log"
    wait_until(lambda: gw.status()["log"]["sequence"] >= 1)
    line = raw.read_bytes().splitlines(keepends=True)[0]
    gw.stop()
    copies = BACKLOG_BYTES // len(line)
    with open(raw, "ab") as f:
        f.write(line * copies)  # the backlog a gateway finds after a stop, or a burst

    gw.start()
    acks, acked, records, started = [], 0, 0, time.monotonic()
    while records < copies + 1 and time.monotonic() - started < 60:
        batches = gw.logs(after=acked, limit=200)["batches"]
        if not batches:
            time.sleep(0.05)
            continue
        records += sum(b["count"] for b in batches)
        acked = batches[-1]["sequence"]
        acks.append(gw.signed("POST", "/_portico/logs/ack", f'{{"sequence": {acked}}}'.encode()).status_code)

    assert records == copies + 1  # each record in exactly one batch: no two ingestions ran at once
    assert len(acks) > 3 and set(acks) == {200}  # never "spool busy": ingestion gives the lock up between slices
    status = gw.status()["log"]
    assert status["acked"] == status["sequence"] == acked
    time.sleep(0.5)
    assert gw.logs(after=acked)["batches"] == []
