"""Edge gateway benchmark: gateway (auth + rate limit + quota + logging) vs a plain NGINX proxy.

    .venv/bin/python -m bench.gateway.run [--runs 5] [--duration 5] [--workers 1 2] [--keys 100000 1000000]

Both proxies front the same demo upstream, with the same worker count, measured in alternating
wrk runs in one session; medians are reported with gateway/plain ratios. A third target is the
same gateway with --redis (rate windows shared through a private redis-server; --no-redis skips
it). Then the time and memory to load 100k and 1M-key snapshots. Bounded: about 6 minutes with
the defaults.
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

from gateway.launcher import prepare_runtime, render_template, user_directive
from keys.tokens import generate
from tests.support.gateway import Gateway, start_upstream
from tests.support.ports import free_port
from tests.support.private_services import PrivateRedis
from tests.support.processes import stop
from tests.support.snapshots import api_entry, key_entry, key_fields, plan_entry, snapshot
from tests.support.waiting import wait_http

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
UNLIMITED = 10**12


def bench_nginx(prefix: Path, template: str, values: dict[str, str]) -> tuple[Path, list[str]]:
    """Render one of bench/gateway's templates into prefix; return its nginx.conf and the command to run it."""
    conf = prefix / "conf" / "nginx.conf"
    conf.write_text(render_template(template, {"user": user_directive(), "prefix": str(prefix), **values}, HERE))
    return conf, ["nginx", "-p", f"{prefix}/", "-c", str(conf), "-e", str(prefix / "logs/error.log")]


def plain_proxy(tmp: Path, workers: int, upstream: str, port: int) -> tuple[Path, list[str]]:
    """The baseline: a plain NGINX reverse proxy (keepalive upstream, no Lua) on port."""
    reuse = " reuseport" if "--reuseport" in GATEWAY_EXTRA else ""
    values = {"workers": str(workers), "upstream": upstream, "listen": f"127.0.0.1:{port}{reuse}"}
    return bench_nginx(prepare_runtime(tmp / f"plain{workers}"), "plain_proxy.conf.tmpl", values)


def start_plain(tmp: Path, workers: int, upstream: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    _, command = plain_proxy(tmp, workers, upstream, port)
    return subprocess.Popen(command), port


def start_bench_upstream(tmp: Path, kind: str, listen: str) -> subprocess.Popen[bytes]:
    """The API behind both proxies: the demo echo (nginx + Lua) or a static nginx answer."""
    if kind == "echo":
        return start_upstream(listen, tmp / "up").popen
    values = {"workers": "1", "listen": listen}
    _, command = bench_nginx(prepare_runtime(tmp / "static-up"), "static_upstream.conf.tmpl", values)
    return subprocess.Popen(command)


def bench_snapshot(upstream: str, n_keys: int, key: str) -> dict[str, Any]:
    """One API on upstream, an unlimited plan, key and n_keys - 1 keys nobody holds."""
    api = api_entry(
        f"http://{upstream}", slug="demo", connect_timeout_ms=5000, read_timeout_ms=30000, send_timeout_ms=30000
    )
    unlimited = plan_entry(
        rate_per_second=UNLIMITED, rate_per_minute=UNLIMITED, quota_per_day=UNLIMITED, quota_per_month=UNLIMITED
    )
    doc = snapshot(1, [api], plans=[unlimited], keys=[key_entry(secret=key)], generated_at=None)
    doc["keys"] += [key_fields(os.urandom(32).hex(), "ptc_live_bench00") for _ in range(n_keys - 1)]
    return doc


GATEWAY_EXTRA: list[str] = []


def start_gateway(
    tmp: Path,
    name: str,
    workers: int,
    snap_file: Path,
    keys_dict: str = "64m",
    extra: list[str] | None = None,
    timeout: float = 60.0,
) -> Gateway:
    """A gateway on free ports serving snap_file: its admin listener answers, its snapshot may still be loading."""
    options = ["--workers", str(workers), "--snapshot-file", str(snap_file), "--keys-dict-size", keys_dict]
    gateway = Gateway.create(name, tmp / name, [*options, *GATEWAY_EXTRA, *(extra or [])], push_secret="bench")
    return gateway.start(wait_ready=False, fresh_ports=True, timeout=timeout)


def wrk(url: str, key: str | None, duration: int, connections: int, header: str = "X-API-Key") -> dict[str, float]:
    """wrk's medians for url, sending `header: key` (e.g. Authorization: Bearer <token>) when key is given."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url]
    if key:
        cmd[1:1] = ["-H", f"{header}: {key}"]
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


def medians(results: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    metrics = ("rps", "p50", "p99")
    return {name: {m: statistics.median(r[m] for r in rs) for m in metrics} for name, rs in results.items()}


def throughput(
    tmp: Path, upstream: str, workers: int, runs: int, duration: int, connections: int, redis_address: str | None
) -> dict[str, Any]:
    key = generate("live").token
    snap = tmp / f"bench-{workers}.json"
    snap.write_text(json.dumps(bench_snapshot(upstream, 1000, key)))
    plain, plain_port = start_plain(tmp, workers, upstream)
    targets = {"plain": (f"http://127.0.0.1:{plain_port}/demo/bench", None)}
    gateways: dict[str, Gateway] = {}
    try:
        gateways["gateway"] = start_gateway(tmp, f"gw{workers}", workers, snap)
        if redis_address:
            # same gateway, rate windows shared through Redis: one Redis round trip per request
            gateways["gateway_redis"] = start_gateway(
                tmp, f"gwr{workers}", workers, snap, extra=["--redis", redis_address]
            )
        targets.update({name: (f"{gw.url}/demo/bench", key) for name, gw in gateways.items()})
        wait_http(f"http://127.0.0.1:{plain_port}/demo/")
        for gw in gateways.values():
            gw.wait_ready(timeout=60)
        for url, k in targets.values():  # warm-up: JIT, keepalive pools
            wrk(url, k, 1, connections)
        names = list(targets)
        results: dict[str, list[dict[str, float]]] = {name: [] for name in names}
        for i in range(runs):
            for name in names if i % 2 == 0 else reversed(names):
                url, k = targets[name]
                results[name].append(wrk(url, k, duration, connections))
        # latency without queueing: one connection, so p99 shows the per-request cost, not the backlog
        single: dict[str, list[dict[str, float]]] = {name: [] for name in names}
        for i in range(runs):
            for name in names if i % 2 == 0 else reversed(names):
                url, k = targets[name]
                single[name].append(wrk(url, k, max(2, duration // 2), 1))
        status = {name: gw.status() for name, gw in gateways.items()}
    finally:
        for gw in reversed(gateways.values()):
            gw.stop()
        stop(plain, signal.SIGQUIT, 15)
    med, single_med = medians(results), medians(single)
    out: dict[str, Any] = {"workers": workers, "runs": results, "median": med, "single_connection_median": single_med}
    for name in names[1:]:
        out[name] = {
            "rps_ratio": med[name]["rps"] / med["plain"]["rps"],
            "p99_added_ms": med[name]["p99"] - med["plain"]["p99"],
            "p50_added_ms": med[name]["p50"] - med["plain"]["p50"],
            "single_p50_added_ms": single_med[name]["p50"] - single_med["plain"]["p50"],
            "single_p99_added_ms": single_med[name]["p99"] - single_med["plain"]["p99"],
            "non2xx": sum(r["non2xx"] for r in results[name]),
            "log_records_dropped": status[name]["counters"].get("log_records_dropped", 0),
            "requests_logged": status[name]["log"]["sequence"],
            "limiter_fallback_allowed": status[name]["counters"].get("limiter.fallback_allowed", 0),
        }
    return out


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def key_load(tmp: Path, upstream: str, n: int) -> dict[str, Any]:
    key = generate("live").token
    snap = tmp / f"keys-{n}.json"
    t0 = time.monotonic()
    snap.write_text(json.dumps(bench_snapshot(upstream, n, key)))
    gen_s = time.monotonic() - t0
    dict_size = f"{max(64, n * 160 // (1024 * 1024) + 16)}m"
    t0 = time.monotonic()
    gw = start_gateway(tmp, f"load{n}", 1, snap, keys_dict=dict_size)
    try:
        gw.wait_ready(timeout=300)
        wall = time.monotonic() - t0
        status = gw.status()
        ok = gw.get("/demo/x", key).status_code
        rss = max(rss_kb(p) for p in gw.proc.worker_pids())
    finally:
        gw.stop()
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
    ap.add_argument("--upstream", choices=("echo", "static"), default="echo", help="the API behind both proxies")
    ap.add_argument("--json", type=Path, help="also write raw results here")
    ap.add_argument("--gateway-arg", action="append", default=[], help="extra launcher option (repeatable)")
    ap.add_argument(
        "--no-redis",
        dest="redis",
        action="store_false",
        help="skip the third target (the gateway with --redis, against a private redis-server)",
    )
    ns = ap.parse_args()
    GATEWAY_EXTRA.extend(ns.gateway_arg)

    with tempfile.TemporaryDirectory(prefix="portico-bench-") as d:
        tmp = Path(d)
        upstream = f"127.0.0.1:{free_port()}"
        up = start_bench_upstream(tmp, ns.upstream, upstream)
        out: dict[str, Any] = {"throughput": [], "key_load": []}
        redis = PrivateRedis.create(tmp / "redis") if ns.redis else None
        try:
            if redis:
                redis.start()
            wait_http(f"http://{upstream}/")
            for w in ns.workers:
                r = throughput(tmp, upstream, w, ns.runs, ns.duration, ns.connections, redis.address if redis else None)
                out["throughput"].append(r)
                m = r["median"]
                for name in [n for n in m if n != "plain"]:
                    g = r[name]
                    print(
                        f"workers={w} {name}: plain {m['plain']['rps']:.0f} req/s p99 {m['plain']['p99']:.2f} ms | "
                        f"{name} {m[name]['rps']:.0f} req/s p99 {m[name]['p99']:.2f} ms | "
                        f"ratio {g['rps_ratio']:.3f}x, p99 +{g['p99_added_ms']:.2f} ms, "
                        f"p50 +{g['p50_added_ms']:.2f} ms, non-2xx {g['non2xx']} | "
                        f"one connection: p50 +{g['single_p50_added_ms']:.3f} ms, "
                        f"p99 +{g['single_p99_added_ms']:.3f} ms",
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
            stop(up, signal.SIGQUIT, 15)
            if redis:
                redis.stop()
    if ns.json:
        ns.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
