"""Access tokens at the gateway: a cached JWT against an API key, and what verifying a new token costs.

    .venv/bin/python -m bench.oauth.gateway_tokens [--runs 5] [--duration 5] [--connections 32] [--fresh 2000]

One gateway (one worker) in front of the demo upstream serves an API key and ES256 access tokens (signed here with
joserfc, as the platform signs them; the gateway has the public key in its snapshot). Throughput: alternating wrk
runs sending the key and one token, both as `Authorization: Bearer`, medians and their ratio (the token is verified
once, then served from the worker's cache). First-use cost: --fresh requests each with a token the gateway has
never seen, against as many with the cached one, on one keep-alive connection; the difference of the mean
latencies is what verifying a token adds (base64url + JSON decoding, the ECDSA check, claims, the cache insert).
Bounded: about a minute with the defaults.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.gateway.run import bench_snapshot, start_gateway, wrk
from keys.tokens import generate
from tests.support.gateway import start_upstream
from tests.support.jwt_tokens import Signer, oauth_member
from tests.support.ports import free_port
from tests.support.processes import stop
from tests.support.waiting import wait_http


def latencies_us(port: int, path: str, tokens: list[str]) -> list[float]:
    """Each request's round trip on one keep-alive connection, in microseconds."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    out = []
    for token in tokens:
        started = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        response.read()
        out.append((time.perf_counter() - started) * 1e6)
        if response.status != 200:
            raise AssertionError(f"token refused: {response.status}")
    conn.close()
    return out


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    upstream_port = free_port()
    upstream = start_upstream(f"127.0.0.1:{upstream_port}", tmp / "up").popen
    signer = Signer()
    key = generate("live").token
    doc = bench_snapshot(f"127.0.0.1:{upstream_port}", 1000, key)
    doc["oauth"] = oauth_member(signer)
    app = doc["keys"][0]["application_id"]
    snap = tmp / "snapshot.json"
    snap.write_text(json.dumps(doc))
    gateway = start_gateway(tmp, "gw", 1, snap)
    try:
        wait_http(f"http://127.0.0.1:{upstream_port}/")
        gateway.wait_ready(timeout=60)
        token = signer.token(scope="demo", application_id=app, exp=int(time.time()) + 3600)
        url = f"{gateway.url}/demo/bench"
        targets = {"key": f"Bearer {key}", "token": f"Bearer {token}"}
        for value in targets.values():  # warm-up: JIT, keep-alive pools, the token's verification
            wrk(url, value, 1, args.connections, header="Authorization")
        runs: dict[str, list[float]] = {name: [] for name in targets}
        for i in range(args.runs):
            for name in list(targets) if i % 2 == 0 else reversed(list(targets)):
                result = wrk(url, targets[name], args.duration, args.connections, header="Authorization")
                assert result["non2xx"] == 0, (name, result)
                runs[name].append(result["rps"])
        key_rps, token_rps = statistics.median(runs["key"]), statistics.median(runs["token"])

        port = int(gateway.url.rsplit(":", 1)[1])
        fresh = [signer.token(scope="demo", application_id=app) for _ in range(args.fresh)]
        cached = latencies_us(port, "/demo/bench", [token] * args.fresh)
        first_use = latencies_us(port, "/demo/bench", fresh)
        cached_again = latencies_us(port, "/demo/bench", [token] * args.fresh)
    finally:
        gateway.stop()
        stop(upstream)
    cached_mean = statistics.mean(cached + cached_again)
    return {
        "runs_rps": runs,
        "key_rps": key_rps,
        "cached_token_rps": token_rps,
        "token_vs_key": token_rps / key_rps,
        "first_use_mean_us": statistics.mean(first_use),
        "cached_mean_us": cached_mean,
        "verification_cost_us": statistics.mean(first_use) - cached_mean,
        "first_use_median_us": statistics.median(first_use),
        "cached_median_us": statistics.median(cached + cached_again),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--fresh", type=int, default=2000, help="never-seen tokens for the first-use cost")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="portico-bench-tokens-") as tmp:
        results = run(args, Path(tmp))
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
