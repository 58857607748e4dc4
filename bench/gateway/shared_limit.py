"""Multi-gateway rate-limit accuracy: two gateways, one consumer, limit L per minute.

    .venv/bin/python -m bench.gateway.shared_limit [--limit 3000] [--duration 3] [--connections 8]

Both gateways are hammered at the same time with one key (wrk on each, far more than L requests)
and the admitted requests (2xx) are counted: with --redis (a private redis-server) the two
together should admit L; without it each gateway applies the limit on its own (about 2L).
Bounded: about 20 seconds, all on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.gateway.run import bench_snapshot, start_gateway
from keys.tokens import generate
from tests.support.gateway import start_upstream
from tests.support.ports import free_port
from tests.support.private_services import PrivateRedis


def hammer(urls: list[str], key: str, duration: int, connections: int) -> list[tuple[int, int]]:
    """wrk on every url at once; (requests, non-2xx) per url."""
    procs = [
        subprocess.Popen(
            ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-H", f"X-API-Key: {key}", url],
            stdout=subprocess.PIPE,
            text=True,
        )
        for url in urls
    ]
    out = []
    for p in procs:
        text, _ = p.communicate(timeout=duration + 30)
        total = int(re.search(r"(\d+) requests in", text).group(1))
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
        out.append((total, int(non2xx.group(1)) if non2xx else 0))
    return out


def scenario(tmp: Path, upstream: str, limit: int, duration: int, connections: int, redis_address: str | None) -> dict:
    key = generate("live").token
    snap_doc = bench_snapshot(upstream, 10, key)
    snap_doc["plans"][0].update(rate_per_second=None, rate_per_minute=limit, quota_per_day=None, quota_per_month=None)
    tag = "shared" if redis_address else "local"
    snap = tmp / f"{tag}.json"
    snap.write_text(json.dumps(snap_doc))
    extra = ["--redis", redis_address] if redis_address else []
    gws = [start_gateway(tmp, f"{tag}{i}", 2, snap, extra=extra) for i in (1, 2)]
    try:
        for gw in gws:
            gw.wait_ready(timeout=60)
        if time.time() % 60 > 60 - duration - 5:  # stay inside one minute window
            time.sleep(61 - time.time() % 60)
        results = hammer([f"{gw.url}/demo/x" for gw in gws], key, duration, connections)
    finally:
        for gw in gws:
            gw.stop()
    admitted = sum(total - non2xx for total, non2xx in results)
    return {
        "limiter": tag,
        "limit_per_minute": limit,
        "requests": sum(total for total, _ in results),
        "admitted": admitted,
        "admitted_over_limit": admitted / limit,
        "per_gateway": [{"requests": t, "admitted": t - n} for t, n in results],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=3000, help="rate_per_minute of the plan")
    ap.add_argument("--duration", type=int, default=3)
    ap.add_argument("--connections", type=int, default=8, help="per gateway")
    ap.add_argument("--json", type=Path)
    ns = ap.parse_args()
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="portico-shared-limit-") as d:
        tmp = Path(d)
        upstream = f"127.0.0.1:{free_port()}"
        up = start_upstream(upstream, tmp / "up")
        redis = PrivateRedis.create(tmp / "redis")
        try:
            redis.start()
            for address in (redis.address, None):
                r = scenario(tmp, upstream, ns.limit, ns.duration, ns.connections, address)
                out.append(r)
                print(
                    f"{r['limiter']}: 2 gateways x 2 workers, limit {r['limit_per_minute']}/min, "
                    f"{r['requests']} requests in {ns.duration} s -> admitted {r['admitted']} "
                    f"= {r['admitted_over_limit']:.3f} x limit (per gateway: "
                    f"{', '.join(str(g['admitted']) for g in r['per_gateway'])})",
                    flush=True,
                )
        finally:
            redis.stop()
            up.stop()
    if ns.json:
        ns.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
