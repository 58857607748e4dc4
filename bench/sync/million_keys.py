"""A million keys: building, serving and applying the full snapshot (issue #15, "A million keys").

    .venv/bin/python -m bench.sync.million_keys [--keys 1000000] [--apps 1000] [--json out.json]

On 127.0.0.1 with a scratch PostgreSQL database (`--database-url`, dropped and re-created): `--keys` active keys
over `--apps` applications (COPY), then

1. **platform, in process** (each in a fresh Python process, so its peak RSS is its own): the streamed snapshot
   (`snapshot_chunks`, what `GET /gateway/v1/config` sends) against the same run's baseline, the whole object
   built and `json.dumps`-ed at once (`build_snapshot`, what the endpoint did before it streamed);
2. **over HTTP**: gunicorn (1 worker, production settings) answering `GET /gateway/v1/config` to a real gateway
   token: time to the last byte and the worker's peak RSS;
3. **gateway**: a real gateway (1 worker) pulling that snapshot at start (start → ready, `last_load_seconds`),
   then, while a client sends requests with a key as fast as it can, a second full pull forced by a version gap
   (a newer platform version, then a push whose `from` is ahead): the load time, the slowest request meanwhile,
   and every nginx process's peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from tests.support.gateway import Gateway, start_upstream
from tests.support.ports import free_port
from tests.support.private_services import create_database
from tests.support.processes import stop
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]

_MEASURE = """
import json, resource, sys, time, django
django.setup()
from gateway_sync.snapshot import build_snapshot, snapshot_chunks
from gateway_sync.selectors import current_version
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.monotonic()
if sys.argv[1] == "streamed":
    size = sum(len(piece) for piece in snapshot_chunks(version=current_version()))
else:
    size = len(json.dumps(build_snapshot(version=current_version()), separators=(",", ":")))
elapsed = time.monotonic() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": round(elapsed, 2), "mb": round(size / 1e6, 1),
                  "peak_rss_mb": round(peak / 1024), "rss_growth_mb": round((peak - base) / 1024)}))
"""


def vm_hwm_mb(pid: int, field: str = "VmHWM") -> float:
    """A process's peak resident set (VmHWM), or another /proc status field (RssAnon: private, RssShmem: shared
    memory such as nginx's shared dicts, mapped by every worker), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def seed(keys: int, apps: int) -> dict[str, Any]:
    """One API and plan, `apps` subscribed applications, one key issued through the services, the rest by COPY."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from keys.services import key_issue
    from portal.models import Api, Application, Plan, Subscription
    from portal.services.applications import application_create, subscription_create
    from portal.services.organisations import organisation_create

    user = get_user_model().objects.create_user(username="bench", email="bench@example.com", password="x" * 16)
    organisation = organisation_create(user=user, name="Bench")
    membership = organisation.memberships.get(user=user)
    upstream_port = free_port()
    api = Api.objects.create(
        name="Echo", slug="echo", path_prefix="/echo", upstream_url=f"http://127.0.0.1:{upstream_port}"
    )
    plan = Plan.objects.create(api=api, name="Unlimited", slug="unlimited", is_public=True)
    first = application_create(membership=membership, name="Measured")
    subscription_create(actor=user, application=first, plan=plan)
    _, secret = key_issue(actor=user, application=first, name="measured")
    started = time.monotonic()
    Application.objects.bulk_create(
        Application(organisation=organisation, name=f"bulk {n}", created_by=user) for n in range(apps - 1)
    )
    bulk = list(Application.objects.filter(organisation=organisation).exclude(pk=first.pk).values_list("pk", flat=True))
    Subscription.objects.bulk_create(
        Subscription(application_id=app_id, api=api, plan=plan, status=Subscription.Status.ACTIVE) for app_id in bulk
    )
    app_ids = [first.pk, *bulk]
    with (
        connection.cursor() as cursor,
        cursor.copy(
            "COPY keys_apikey (application_id, name, environment, prefix, last4, digest, status, created_at,"
            " allowed_cidrs) FROM STDIN"
        ) as copy,
    ):
        for n in range(keys - 1):
            digest = hashlib.sha256(n.to_bytes(8, "big")).hexdigest()
            copy.write(
                f"{app_ids[n % len(app_ids)]}\tbulk\tlive\tptc_live_{digest[:7]}\t0000\t{digest}\tactive\t"
                "2026-01-01 00:00:00+00\t[]\n"
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"seeded {keys} keys over {apps} applications in {time.monotonic() - started:.1f}s", flush=True)
    return {"secret": secret, "upstream_port": upstream_port, "user": user, "application": first}


def measure_in_process(mode: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, mode], capture_output=True, text=True, cwd=REPO, env=os.environ, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def start_gunicorn(port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    argv = [
        str(Path(sys.executable).parent / "gunicorn"), "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
        "--workers", "1", "--timeout", "300", "--access-logfile", "-",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok, timeout=60)
    return proc


class Traffic(threading.Thread):
    """Requests with a key, one after another, as fast as one client can: (start, seconds, status) each."""

    def __init__(self, url: str, secret: str) -> None:
        super().__init__(daemon=True)
        self.url, self.secret = url, secret
        self.samples: list[tuple[float, float, int]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        session = requests.Session()
        while not self.halt.is_set():
            started = time.monotonic()
            status = session.get(self.url, headers={"X-API-Key": self.secret}, timeout=10).status_code
            self.samples.append((started, time.monotonic() - started, status))


def run(args: argparse.Namespace, tmp: Path, processes: list[subprocess.Popen[bytes]], gateways: list[Gateway]) -> int:
    import django

    django.setup()
    from gateway_sync.services import gateway_register
    from keys.services import key_issue

    results: dict[str, Any] = {"keys": args.keys, "apps": args.apps}
    data = seed(args.keys, args.apps)

    for mode in ("streamed", "whole"):
        results[f"build_{mode}"] = measure_in_process(mode)
        print(f"platform, {mode}:", results[f"build_{mode}"], flush=True)

    processes.append(start_upstream(f"127.0.0.1:{data['upstream_port']}", tmp / "upstream").popen)
    portal_port = free_port()
    portal = f"http://127.0.0.1:{portal_port}"
    gunicorn = start_gunicorn(portal_port, tmp / "gunicorn.log")
    processes.append(gunicorn)
    row, client_id, client_secret, push_secret = gateway_register(name="edge-1", admin_url="http://127.0.0.1:9")
    token = requests.post(
        portal + "/o/token/",
        data={"grant_type": "client_credentials", "scope": "gateway"},
        auth=(client_id, client_secret),
        timeout=10,
    ).json()["access_token"]
    started, size = time.monotonic(), 0
    with requests.get(
        portal + "/gateway/v1/config", headers={"Authorization": f"Bearer {token}"}, stream=True, timeout=300
    ) as response:
        response.raise_for_status()
        for block in response.iter_content(1 << 20):
            size += len(block)
    worker_rss = [vm_hwm_mb(pid) for pid in children(gunicorn.pid)]
    results["http"] = {"seconds": round(time.monotonic() - started, 2), "mb": round(size / 1e6, 1),
                       "worker_peak_rss_mb": max(worker_rss) if worker_rss else None}  # fmt: skip
    print("over HTTP:", results["http"], flush=True)

    options = [
        "--workers", "1", "--config-url", portal + "/gateway/v1/config", "--token-url", portal + "/o/token/",
        "--client-id", client_id, "--client-secret", client_secret, "--poll-interval", "3600",
        "--heartbeat-interval", "3600", "--keys-dict-size", args.keys_dict_size,
    ]  # fmt: skip
    gateway = Gateway.create("edge-1", tmp / "gw", options, push_secret=push_secret)
    gateways.append(gateway)
    started = time.monotonic()
    gateway.start(wait_ready=False, timeout=60)
    gateway.wait_ready(timeout=600)
    status = gateway.status()
    results["gateway_first_load"] = {
        "start_to_ready_s": round(time.monotonic() - started, 2),
        "load_s": round(status["config"]["last_load_seconds"], 2),
        "keys": status["config"]["keys"],
    }
    print("gateway, first load:", results["gateway_first_load"], flush=True)

    # a newer platform version, then a push that reveals the gap: the gateway pulls the whole snapshot again
    key_issue(actor=data["user"], application=data["application"], name="newer")
    from gateway_sync.selectors import current_version

    newer = current_version()
    traffic = Traffic(gateway.url + "/echo/x", data["secret"])
    traffic.start()
    time.sleep(1.0)
    forced = time.monotonic()
    gap = json.dumps({"from": newer + 5, "to": newer + 6, "changes": []}).encode()
    pushed = gateway.signed("POST", "/_portico/config", gap, secret=push_secret)
    try:
        wait_until(lambda: gateway.status()["config"]["version"] == newer, timeout=600, interval=0.05)
    except AssertionError:
        report = gateway.proc.report() if gateway.proc else ""
        print("push answered", pushed.status_code, pushed.text, gateway.status(), report)
        raise
    loaded = time.monotonic()
    time.sleep(1.0)
    traffic.halt.set()
    traffic.join()
    during = [s for s in traffic.samples if forced <= s[0] <= loaded]
    latencies = sorted(s[1] * 1000 for s in during)
    nginx = [gateway.proc.pid, *children(gateway.proc.pid)] if gateway.proc else []
    results["gateway_reload_under_traffic"] = {
        "pull_and_load_s": round(loaded - forced, 2),
        "load_s": round(gateway.status()["config"]["last_load_seconds"], 2),
        "requests_meanwhile": len(during),
        "non_200": sum(1 for s in during if s[2] != 200),
        "p50_ms": round(statistics.median(latencies), 2) if latencies else None,
        "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))], 2) if latencies else None,
        "max_ms": round(latencies[-1], 2) if latencies else None,
        "nginx_peak_rss_mb": {str(pid): vm_hwm_mb(pid) for pid in nginx},
        "nginx_private_rss_mb": {str(pid): vm_hwm_mb(pid, "RssAnon") for pid in nginx},
        "nginx_shared_rss_mb": {str(pid): vm_hwm_mb(pid, "RssShmem") for pid in nginx},
    }
    print("gateway, reload under traffic:", results["gateway_reload_under_traffic"], flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--apps", type=int, default=1_000)
    parser.add_argument("--keys-dict-size", default="200m")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/portico_bench_million")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="portico-bench-million-"))
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": args.database_url,
            "PORTICO_VAR_DIR": str(tmp / "var"),
            "PORTICO_MAX_ACTIVE_KEYS_PER_APPLICATION": str(args.keys + 10),
            "PORTICO_MAX_APPLICATIONS_PER_ORGANISATION": str(args.apps + 10),
        }
    )
    processes: list[subprocess.Popen[bytes]] = []
    gateways: list[Gateway] = []
    try:
        create_database(args.database_url, replace=True)
        subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=REPO, check=True)
        return run(args, tmp, processes, gateways)
    finally:
        for gateway in gateways:
            gateway.stop(signal.SIGTERM)
        for proc in processes:
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
