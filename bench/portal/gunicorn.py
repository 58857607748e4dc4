"""Portal throughput in the production configuration: gunicorn (2 sync workers) behind the nginx TLS front.

    .venv/bin/python -m bench.portal.gunicorn [--duration 5] [--connections 8] [--rounds 3] [--keys 5]
        [--database-url postgres://postgres@127.0.0.1:5432/portico_bench_gunicorn] [--json out.json]

The stack is tests/support/production_stack.py without gateways, Celery workers or beat (they would share the
2 cores with what is measured): config.settings with DEBUG off, deploy/gunicorn.conf.py with `--workers 2`, the
shipped deploy/nginx/portico.conf on a free port with a self-signed certificate, a scratch database (dropped and
re-created) on the machine's PostgreSQL and a private Redis. A developer signs up through the HTML pages, makes an
application subscribed to the demo API with --keys keys, and a personal access token.

Two pages, each through the front (HTTPS, keep-alive connections to nginx; nginx opens a connection to gunicorn per
request) and straight at gunicorn (plain HTTP with `X-Forwarded-Proto: https`, as the front sends it), so the
front's share shows:
* dashboard: `GET /` with the session cookie (the signed-in developer's dashboard, HTML);
* keys: `GET /api/v1/applications/{id}/keys/` with the token (JSON, one page of --keys keys).
Each is measured with `wrk -t1 -c<connections> -d<duration>s` after a 1 s warm-up; the targets alternate --rounds
times and medians are reported. Any answer but 200 (a 302 to the login page included) fails the run.

Requests/s depend on what else the machine runs; the CPU time per request does much less, so it is reported too:
user + system time (/proc/<pid>/stat) over each run of the gunicorn workers, of the front's nginx worker and of
the PostgreSQL backends serving the bench database, divided by the requests wrk completed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

import psycopg
import requests

from tests.support import http_accounts
from tests.support.processes import child_pids
from tests.support.production_stack import GUNICORN_WORKERS, ProductionStack

# The REST throttle (PORTICO_API_RATE, 6000/hour a person) would turn the run into 429s; it still runs, and pays
# its cache round trips, at a rate no run reaches.
UNREACHED_RATE = "1000000000/hour"
METRICS = ("per_second", "p50_ms", "p99_ms", "gunicorn_cpu_ms", "nginx_cpu_ms", "postgres_cpu_ms")


def cpu_seconds(pids: list[int]) -> float:
    """User + system time these processes have used so far."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime and stime: fields 14 and 15 of proc(5)
    return ticks / os.sysconf("SC_CLK_TCK")


def measured_processes(stack: ProductionStack, database: str) -> dict[str, list[int]]:
    """The processes that serve a request: gunicorn's workers, the front's nginx worker, the database backends."""
    assert stack.front.process
    with psycopg.connect(stack.database_url) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                            [database]).fetchall()  # fmt: skip
    return {
        "gunicorn": stack.gunicorn_workers(),
        "nginx": child_pids(stack.front.process.pid),
        "postgres": [row[0] for row in rows],
    }


def wrk(url: str, headers: dict[str, str], duration: int, connections: int) -> dict[str, Any]:
    """One wrk run: requests/s, p50/p99 in ms, and answers that were not 2xx/3xx or failed."""
    args = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, timeout=duration + 60, check=True).stdout

    def ms(percentile: str) -> float:
        value, unit = re.search(rf"\s{percentile}%\s+([\d.]+)(us|ms|s)\b", out).groups()  # type: ignore[union-attr]
        return round(float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 2)

    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        "per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
        "bad_answers": int(bad.group(1)) if bad else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def prepare(stack: ProductionStack, keys: int) -> tuple[str, int, str, str]:
    """A signed-up developer: their session cookie, application id (with keys), personal access token and email."""
    session, email = stack.session(), f"bench-{uuid.uuid4().hex[:10]}@example.com"
    assert http_accounts.sign_up(session, stack.url, stack.mail_dir, email).status_code == 200

    def api(method: str, path: str, body: Any = None) -> Any:
        return http_accounts.api(session, stack.url, method, path, body)

    [organisation] = api("GET", "organisations/")["results"]
    application = api("POST", f"organisations/{organisation['id']}/applications/", {"name": "Bench app"})
    plans = {plan["slug"]: plan["id"] for plan in api("GET", "apis/echo/")["plans"]}
    api("POST", f"applications/{application['id']}/subscriptions/", {"plan": plans["free"]})
    for n in range(keys):
        api("POST", f"applications/{application['id']}/keys/", {"name": f"Key {n}"})
    token = api("POST", "access-tokens/", {"name": "bench"})["secret"]
    return session.cookies["sessionid"], application["id"], token, email


def targets(stack: ProductionStack, cookie: str, application_id: int, token: str) -> dict[str, tuple[str, dict]]:
    """name: (URL, headers) for each page through the front and straight at gunicorn."""
    direct = f"http://127.0.0.1:{stack.gunicorn_port}"
    host = f"127.0.0.1:{stack.front.https_port}"
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "127.0.0.1", "Host": host}
    pages = {
        "dashboard": ("/", {"Cookie": f"sessionid={cookie}"}),
        "keys": (f"/api/v1/applications/{application_id}/keys/", {"Authorization": f"Bearer {token}"}),
    }
    found = {}
    for name, (path, headers) in pages.items():
        found[f"{name} via TLS front"] = (stack.url + path, headers)
        found[f"{name} at gunicorn"] = (direct + path, {**headers, **forwarded})
    return found


def check(stack: ProductionStack, url: str, headers: dict[str, str], email: str) -> None:
    """The target answers 200 with the developer's own content (not a redirect to the login page)."""
    answer = requests.get(url, headers=headers, verify=str(stack.cert), allow_redirects=False, timeout=10)
    assert answer.status_code == 200, (url, answer.status_code, answer.headers.get("Location"))
    assert email in answer.text or '"results"' in answer.text, url


def medians(results: list[dict[str, Any]]) -> dict[str, float]:
    """The median of each metric over the runs that have it (a run without CPU figures had a worker recycled)."""
    found = {metric: [r[metric] for r in results if metric in r] for metric in METRICS}
    return {metric: round(statistics.median(values), 2) for metric, values in found.items() if values}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keys", type=int, default=5, help="keys in the listed application (at most 5 active)")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/portico_bench_gunicorn")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        parser.error("wrk is missing: apt-get install wrk (scripts/ensure-system.sh)")

    tmp = Path(tempfile.mkdtemp(prefix="portico-bench-gunicorn-"))
    stack = ProductionStack(tmp, args.database_url, "http://127.0.0.1:9")
    database = args.database_url.rsplit("/", 1)[1]
    stack.env.update(PORTICO_API_RATE=UNREACHED_RATE, PORTICO_LOG_LEVEL="WARNING")
    try:
        stack.start(gateways=0, with_workers=False)
        cookie, application_id, token, email = prepare(stack, args.keys)
        runs: dict[str, list[dict[str, Any]]] = {}
        for name, (url, headers) in targets(stack, cookie, application_id, token).items():
            check(stack, url, headers, email)
            wrk(url, headers, 1, args.connections)  # warm-up: connections, caches, gunicorn's workers
            runs[name] = []
        for index in range(args.rounds):
            for name, (url, headers) in targets(stack, cookie, application_id, token).items():
                processes = measured_processes(stack, database)
                before = {part: cpu_seconds(pids) for part, pids in processes.items()}
                result = wrk(url, headers, args.duration, args.connections)
                assert result["bad_answers"] == 0 and not result["socket_errors"], (name, result)
                if measured_processes(stack, database) == processes:  # else a worker was recycled (max_requests)
                    for part, pids in processes.items():
                        used = cpu_seconds(pids) - before[part]
                        result[f"{part}_cpu_ms"] = round(1000 * used / result["requests"], 2)
                runs[name].append(result)
                print(f"round {index + 1} {name}: {json.dumps(result)}", flush=True)
        summary = {
            "load_average_at_end": [round(load, 2) for load in os.getloadavg()],  # what else the cores were doing
            "gunicorn_workers": GUNICORN_WORKERS,
            "connections": args.connections,
            "duration": args.duration,
            "rounds": args.rounds,
            "medians": {name: medians(results) for name, results in runs.items()},
        }
        print(json.dumps(summary, indent=2))
        if args.json:
            args.json.write_text(json.dumps({"summary": summary, "runs": runs}, indent=2))
    finally:
        stack.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
