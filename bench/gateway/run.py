"""Edge gateway benchmark: gateway (auth + rate limit + quota + logging) vs a plain NGINX proxy.

    .venv/bin/python -m bench.gateway.run [--runs 5] [--duration 5] [--workers 1 2] [--keys 100000 1000000]

Both proxies front the same demo upstream, with the same worker count, measured in alternating
wrk runs in one session; medians are reported with gateway/plain ratios. Then the time and
memory to load 100k and 1M-key snapshots. Bounded: about 3 minutes with the defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from gateway.keyformat import digest, display_prefix, make_key
from gateway.launcher import prepare_runtime, user_directive

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
UNLIMITED = 10**12


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(fn_args: list[str]) -> subprocess.Popen[bytes]:
    """Run a launcher-style module (it execs nginx, so the PID is nginx's master)."""
    return subprocess.Popen([sys.executable, *fn_args], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        os.kill(p.pid, signal.SIGQUIT)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def start_plain(tmp: Path, workers: int, upstream: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    prefix = prepare_runtime(tmp / f"plain{workers}")
    conf = prefix / "conf" / "nginx.conf"
    values = {
        "workers": str(workers),
        "user": user_directive(),
        "prefix": str(prefix),
        "upstream": upstream,
        "listen": f"127.0.0.1:{port}",
    }
    text = (HERE / "plain_proxy.conf.tmpl").read_text()
    conf.write_text(re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], text))
    p = subprocess.Popen(["nginx", "-p", f"{prefix}/", "-c", str(conf), "-e", str(prefix / "logs/error.log")])
    return p, port


def bench_snapshot(upstream: str, n_keys: int, key: str) -> dict[str, Any]:
    keys = [
        {
            "digest": digest(key),
            "prefix": display_prefix(key),
            "application_id": 5,
            "organisation_id": 2,
            "status": "active",
            "expires_at": None,
            "api_ids": [],
            "allowed_cidrs": [],
        }
    ]
    for _ in range(n_keys - 1):
        keys.append(
            {
                "digest": os.urandom(32).hex(),
                "prefix": "ptc_live_bench00",
                "application_id": 5,
                "organisation_id": 2,
                "status": "active",
                "expires_at": None,
                "api_ids": [],
                "allowed_cidrs": [],
            }
        )
    return {
        "version": 1,
        "generated_at": None,
        "apis": [
            {
                "id": 1,
                "slug": "demo",
                "host": None,
                "path_prefix": "/demo",
                "upstream_url": f"http://{upstream}",
                "strip_prefix": True,
                "methods": ["GET", "POST"],
                "max_body_bytes": 1048576,
                "key_header": "X-API-Key",
                "allow_query_key": False,
                "query_key_param": "api_key",
                "connect_timeout_ms": 5000,
                "read_timeout_ms": 30000,
                "send_timeout_ms": 30000,
            }
        ],
        "plans": [
            {
                "id": 3,
                "rate_per_second": UNLIMITED,
                "rate_per_minute": UNLIMITED,
                "quota_per_day": UNLIMITED,
                "quota_per_month": UNLIMITED,
                "store_failure_mode": "allow",
            }
        ],
        "subscriptions": [
            {
                "id": 7,
                "application_id": 5,
                "api_id": 1,
                "plan_id": 3,
                "status": "active",
                "blocked_until": None,
                "blocked_reason": None,
            }
        ],
        "keys": keys,
    }


GATEWAY_EXTRA: list[str] = []


def start_gateway(tmp: Path, name: str, workers: int, snap_file: Path, keys_dict: str = "64m"):
    port, admin = free_port(), free_port()
    args = [
        "-m",
        "gateway.launcher",
        "--name",
        name,
        "--listen",
        f"127.0.0.1:{port}",
        "--admin",
        f"127.0.0.1:{admin}",
        "--runtime-dir",
        str(tmp / name),
        "--push-secret",
        "bench",
        "--workers",
        str(workers),
        "--snapshot-file",
        str(snap_file),
        "--keys-dict-size",
        keys_dict,
        *GATEWAY_EXTRA,
    ]
    return spawn(args), port, admin


def wrk(url: str, key: str | None, duration: int, connections: int) -> dict[str, float]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url]
    if key:
        cmd[1:1] = ["-H", f"X-API-Key: {key}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return {
        "rps": rps,
        "p50": pct("50"),
        "p99": pct("99"),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


def throughput(tmp: Path, upstream: str, workers: int, runs: int, duration: int, connections: int) -> dict[str, Any]:
    key = make_key()
    snap = tmp / f"bench-{workers}.json"
    snap.write_text(json.dumps(bench_snapshot(upstream, 1000, key)))
    plain, plain_port = start_plain(tmp, workers, upstream)
    gw, gw_port, gw_admin = start_gateway(tmp, f"gw{workers}", workers, snap)
    try:
        wait_http(f"http://127.0.0.1:{plain_port}/demo/")
        wait_http(f"http://127.0.0.1:{gw_admin}/_portico/ready")
        targets = {
            "plain": (f"http://127.0.0.1:{plain_port}/demo/bench", None),
            "gateway": (f"http://127.0.0.1:{gw_port}/demo/bench", key),
        }
        for url, k in targets.values():  # warm-up: JIT, keepalive pools
            wrk(url, k, 1, connections)
        results: dict[str, list[dict[str, float]]] = {"plain": [], "gateway": []}
        for i in range(runs):
            order = ["plain", "gateway"] if i % 2 == 0 else ["gateway", "plain"]
            for name in order:
                url, k = targets[name]
                results[name].append(wrk(url, k, duration, connections))
        # latency without queueing: one connection, so p99 shows the per-request cost, not the backlog
        single: dict[str, list[dict[str, float]]] = {"plain": [], "gateway": []}
        for i in range(runs):
            order = ["plain", "gateway"] if i % 2 == 0 else ["gateway", "plain"]
            for name in order:
                url, k = targets[name]
                single[name].append(wrk(url, k, max(2, duration // 2), 1))
        status = requests.get(f"http://127.0.0.1:{gw_admin}/_portico/status", timeout=5).json()
    finally:
        stop(gw)
        stop(plain)
    med = {
        name: {m: statistics.median(r[m] for r in rs) for m in ("rps", "p50", "p99")} for name, rs in results.items()
    }
    single_med = {
        name: {m: statistics.median(r[m] for r in rs) for m in ("rps", "p50", "p99")} for name, rs in single.items()
    }
    return {
        "workers": workers,
        "runs": results,
        "median": med,
        "single_connection_median": single_med,
        "single_p50_added_ms": single_med["gateway"]["p50"] - single_med["plain"]["p50"],
        "single_p99_added_ms": single_med["gateway"]["p99"] - single_med["plain"]["p99"],
        "rps_ratio": med["gateway"]["rps"] / med["plain"]["rps"],
        "p99_added_ms": med["gateway"]["p99"] - med["plain"]["p99"],
        "p50_added_ms": med["gateway"]["p50"] - med["plain"]["p50"],
        "gateway_non2xx": sum(r["non2xx"] for r in results["gateway"]),
        "gateway_log_records_dropped": status["counters"].get("log_records_dropped", 0),
        "gateway_requests_logged": status["log"]["sequence"],
    }


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def key_load(tmp: Path, upstream: str, n: int) -> dict[str, Any]:
    key = make_key()
    snap = tmp / f"keys-{n}.json"
    t0 = time.monotonic()
    snap.write_text(json.dumps(bench_snapshot(upstream, n, key)))
    gen_s = time.monotonic() - t0
    dict_size = f"{max(64, n * 160 // (1024 * 1024) + 16)}m"
    t0 = time.monotonic()
    gw, port, admin = start_gateway(tmp, f"load{n}", 1, snap, keys_dict=dict_size)
    try:
        wait_http(f"http://127.0.0.1:{admin}/_portico/status")
        deadline = time.monotonic() + 300
        while requests.get(f"http://127.0.0.1:{admin}/_portico/ready", timeout=5).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("snapshot load timed out")
            time.sleep(0.05)
        wall = time.monotonic() - t0
        status = requests.get(f"http://127.0.0.1:{admin}/_portico/status", timeout=5).json()
        ok = requests.get(f"http://127.0.0.1:{port}/demo/x", headers={"X-API-Key": key}, timeout=5).status_code
        workers = [
            int(p)
            for p in subprocess.run(
                ["ps", "-o", "pid=", "--ppid", str(gw.pid)], capture_output=True, text=True
            ).stdout.split()
        ]
        rss = max(rss_kb(p) for p in workers)
    finally:
        stop(gw)
    slots = status["config"]["shared_dicts"]
    used = sum(slots[s]["capacity"] - slots[s]["free"] for s in ("portico_keys_a", "portico_keys_b"))
    return {
        "keys": n,
        "snapshot_mb": snap.stat().st_size / 2**20,
        "generate_s": gen_s,
        "load_s": status["config"]["last_load_seconds"],
        "start_to_ready_s": wall,
        "keys_dict_used_mb": used / 2**20,
        "worker_rss_mb": rss / 1024,
        "loaded": status["config"]["keys"],
        "key_works": ok == 200,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--keys", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--json", type=Path, help="also write raw results here")
    ap.add_argument("--gateway-arg", action="append", default=[], help="extra launcher option (repeatable)")
    ns = ap.parse_args()
    GATEWAY_EXTRA.extend(ns.gateway_arg)

    with tempfile.TemporaryDirectory(prefix="portico-bench-") as d:
        tmp = Path(d)
        up_port = free_port()
        upstream = f"127.0.0.1:{up_port}"
        up = spawn(
            ["-m", "gateway.demo_upstream", "--listen", upstream, "--runtime-dir", str(tmp / "up"), "--workers", "1"]
        )
        out: dict[str, Any] = {"throughput": [], "key_load": []}
        try:
            wait_http(f"http://{upstream}/")
            for w in ns.workers:
                r = throughput(tmp, upstream, w, ns.runs, ns.duration, ns.connections)
                out["throughput"].append(r)
                m = r["median"]
                print(
                    f"workers={w}: plain {m['plain']['rps']:.0f} req/s p99 {m['plain']['p99']:.2f} ms | "
                    f"gateway {m['gateway']['rps']:.0f} req/s p99 {m['gateway']['p99']:.2f} ms | "
                    f"ratio {r['rps_ratio']:.3f}x, p99 +{r['p99_added_ms']:.2f} ms, "
                    f"p50 +{r['p50_added_ms']:.2f} ms, gateway non-2xx {r['gateway_non2xx']} | "
                    f"one connection: p50 +{r['single_p50_added_ms']:.3f} ms, p99 +{r['single_p99_added_ms']:.3f} ms",
                    flush=True,
                )
            for n in ns.keys:
                r = key_load(tmp, upstream, n)
                out["key_load"].append(r)
                print(
                    f"keys={n}: snapshot {r['snapshot_mb']:.0f} MB, load {r['load_s']:.2f} s "
                    f"(start to ready {r['start_to_ready_s']:.2f} s), key dicts {r['keys_dict_used_mb']:.0f} MB, "
                    f"worker RSS {r['worker_rss_mb']:.0f} MB, loaded {r['loaded']}, key works {r['key_works']}",
                    flush=True,
                )
        finally:
            stop(up)
    if ns.json:
        ns.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
