"""Config propagation benchmark: how fast platform changes reach real gateways.

    .venv/bin/python -m bench.sync.run [--trials 100] [--keys 100000] [--delta-trials 50] [--json out.json]

Everything on 127.0.0.1: a scratch PostgreSQL database on the local server (`--database-url`, dropped and
re-created), a private Redis broker, the portal (`manage.py runserver`), a Celery worker, the demo upstream and
two gateways pulling from the portal with their own OAuth2 credentials (polling every 30 s, so only pushes count).

(b) full snapshot: `build_snapshot` + JSON for --keys keys, in-process and over HTTP (`/gateway/v1/config`), and
    each gateway's own load time (`last_load_seconds` in its status) when it pulls that snapshot at start;
(a) revocation: --trials times, revoke a key through the REST API (PAT) and poll both gateways until 401;
    then --client-trials times the same for an OAuth client: a token from `/oauth/token` admitted at both
    gateways, the client revoked through the REST API, both gateways polled until they refuse the token;
(c) one-key delta: with the worker stopped, `gateways_push()` of a single revocation to both gateways.
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
import time
from pathlib import Path
from typing import Any

import requests

from tests.support.celery_worker import CeleryWorker
from tests.support.gateway import Gateway, start_upstream
from tests.support.portal_process import manage, start_portal
from tests.support.ports import free_port
from tests.support.private_services import PrivateRedis, create_database
from tests.support.processes import stop


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {
        "n": len(ms),
        "p50_ms": round(pct(ms, 50), 1),
        "p99_ms": round(pct(ms, 99), 1),
        "max_ms": round(max(ms), 1),
        "mean_ms": round(statistics.fmean(ms), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--delta-trials", type=int, default=50)
    parser.add_argument("--client-trials", type=int, default=50)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/portico_bench_sync")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="portico-bench-sync-"))
    broker = PrivateRedis.create(tmp / "redis")
    broker.start()
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": args.database_url,
            "REDIS_URL": broker.url,
            "CELERY_BROKER_URL": broker.url,
            "PORTICO_VAR_DIR": str(tmp / "var"),
            "PORTICO_MAX_ACTIVE_KEYS_PER_APPLICATION": str(args.keys + args.trials + args.delta_trials + 10),
        }
    )
    processes: list[subprocess.Popen[bytes]] = []
    gateways: list[Gateway] = []
    try:
        create_database(args.database_url, replace=True)
        manage("migrate", "--no-input", "-v", "0")
        return run(args, tmp, processes, gateways)
    finally:
        for gateway in gateways:
            gateway.stop(signal.SIGTERM)
        for proc in processes:
            stop(proc)
        broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, tmp: Path, processes: list[subprocess.Popen[bytes]], gateways: list[Gateway]) -> int:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection

    from gateway_sync.selectors import current_version
    from gateway_sync.services import gateway_register, gateways_push
    from gateway_sync.snapshot import build_snapshot
    from keys.models import ApiKey
    from keys.services import access_token_issue, key_issue, key_revoke
    from keys.services.signing import signing_key_rotate
    from portal.models import Api, Plan
    from portal.services.applications import application_create, subscription_create
    from portal.services.organisations import organisation_create

    results: dict[str, Any] = {"keys": args.keys}

    # --- data: one API, an unlimited plan, trial keys issued through the services, bulk keys for volume
    upstream_port, portal_port = free_port(), free_port()
    user = get_user_model().objects.create_user(username="bench", email="bench@example.com", password="x" * 16)
    organisation = organisation_create(user=user, name="Bench")
    membership = organisation.memberships.get(user=user)
    api = Api.objects.create(
        name="Echo", slug="echo", path_prefix="/echo", upstream_url=f"http://127.0.0.1:{upstream_port}"
    )
    plan = Plan.objects.create(api=api, name="Unlimited", slug="unlimited")
    application = application_create(membership=membership, name="Bench app")
    subscription_create(actor=user, application=application, plan=plan)
    trial_keys = [key_issue(actor=user, application=application, name=f"t{i}") for i in range(args.trials)]
    delta_keys = [key_issue(actor=user, application=application, name=f"d{i}") for i in range(args.delta_trials)]
    bulk_app = application_create(membership=membership, name="Bulk")
    subscription_create(actor=user, application=bulk_app, plan=plan)
    started = time.monotonic()
    ApiKey.objects.bulk_create(
        (
            ApiKey(
                application=bulk_app,
                name="bulk",
                prefix="ptc_live_" + hashlib.sha256(str(i).encode()).hexdigest()[:7],
                last4="0000",
                digest=hashlib.sha256(os.urandom(32)).hexdigest(),
            )
            for i in range(args.keys)
        ),
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as autovacuum would soon: fresh bulk rows otherwise get a nested-loop plan
    print(f"seeded {args.keys} bulk keys in {time.monotonic() - started:.1f}s", flush=True)
    _, pat = access_token_issue(user=user, name="bench")
    signing_key_rotate(immediate=True)  # consumer tokens can be signed at once; gateways get the key in their snapshot
    registered = [gateway_register(name=f"edge-{i}", admin_url="http://127.0.0.1:9") for i in (1, 2)]

    # --- (b) snapshot build, in-process
    builds = []
    for _ in range(3):
        started = time.monotonic()
        body = json.dumps(build_snapshot(version=current_version()), separators=(",", ":"))
        builds.append(time.monotonic() - started)
    results["snapshot_build"] = {**summary(builds), "json_mb": round(len(body) / 1e6, 1)}
    print("snapshot build:", results["snapshot_build"], flush=True)

    # --- processes (this environment: the private broker and the scratch database)
    processes.append(start_upstream(f"127.0.0.1:{upstream_port}", tmp / "upstream").popen)
    processes.append(start_portal(portal_port, tmp / "portal.log", timeout=60))
    portal = f"http://127.0.0.1:{portal_port}"
    worker = CeleryWorker.start(None, tmp / "worker.log", ["--concurrency", "2"])
    processes.append(worker.popen)
    worker.wait_ready(timeout=60)

    # (b) over HTTP, with a real client-credentials token
    gw_row, client_id, client_secret, push_secret = registered[0]
    token = requests.post(
        portal + "/o/token/",
        data={"grant_type": "client_credentials", "scope": "gateway"},
        auth=(client_id, client_secret),
        timeout=10,
    ).json()["access_token"]
    fetches = []
    for _ in range(3):
        started = time.monotonic()
        response = requests.get(portal + "/gateway/v1/config", headers={"Authorization": f"Bearer {token}"}, timeout=60)
        response.raise_for_status()
        fetches.append(time.monotonic() - started)
    results["snapshot_http"] = summary(fetches)
    print("snapshot over HTTP:", results["snapshot_http"], flush=True)

    # gateways pull that snapshot at start
    loads = []
    for (row, cid, secret, push), index in zip(registered, (1, 2), strict=True):
        options = [
            "--workers", "1", "--config-url", portal + "/gateway/v1/config", "--token-url", portal + "/o/token/",
            "--client-id", cid, "--client-secret", secret, "--poll-interval", "30", "--heartbeat-interval", "5",
            "--trusted-proxy", "127.0.0.1/32",
        ]  # fmt: skip
        gateway = Gateway.create(row.name, tmp / f"gw{index}", options, push_secret=push)
        gateways.append(gateway)
        started = time.monotonic()
        gateway.start(wait_ready=False, fresh_ports=True, timeout=60)
        gateway.wait_ready(timeout=120)
        ready_after = time.monotonic() - started
        type(row).objects.filter(pk=row.pk).update(admin_url=gateway.admin_url)
        status = gateway.status()["config"]
        loads.append({"keys": status["keys"], "last_load_s": round(status["last_load_seconds"], 2),
                      "start_to_ready_s": round(ready_after, 2)})  # fmt: skip
    results["snapshot_gateway_load"] = loads
    print("gateway loads:", loads, flush=True)

    # --- (a) revocation through the REST API until both gateways refuse the key
    api_calls, first, fleet = [], [], []
    sessions = [requests.Session() for _ in gateways]
    for trial, (key, secret) in enumerate(trial_keys):
        # Each trial speaks from its own client address: gateways throttle addresses that present invalid keys.
        for session in sessions:
            session.headers["X-Forwarded-For"] = f"10.{trial // 250}.{trial % 250}.1"
        for gateway, session in zip(gateways, sessions, strict=True):
            answer = session.get(gateway.url + "/echo/x", headers={"X-API-Key": secret}, timeout=5)
            assert answer.status_code == 200, answer.text
        started = time.monotonic()
        response = requests.post(
            f"{portal}/api/v1/keys/{key.pk}/revoke/", headers={"Authorization": f"Bearer {pat}"}, timeout=10
        )
        assert response.status_code == 200, response.text
        api_calls.append(time.monotonic() - started)
        refused: dict[int, float] = {}
        while len(refused) < len(gateways):
            for index, (gateway, session) in enumerate(zip(gateways, sessions, strict=True)):
                if index in refused:
                    continue
                status = session.get(gateway.url + "/echo/x", headers={"X-API-Key": secret}, timeout=5).status_code
                if status == 401:
                    refused[index] = time.monotonic() - started
            if time.monotonic() - started > 10:
                raise AssertionError("revocation not enforced within 10 s")
        first.append(min(refused.values()))
        fleet.append(max(refused.values()))
    results["revocation"] = {
        "api_call": summary(api_calls),
        "first_gateway_refuses": summary(first),
        "both_gateways_refuse": summary(fleet),
    }
    print("revocation:", json.dumps(results["revocation"]), flush=True)
    results["client_revocation"] = client_revocation(args.client_trials, portal, pat, user, application, gateways)
    print("client revocation:", json.dumps(results["client_revocation"]), flush=True)

    # --- (c) one-key delta pushed to both gateways (worker stopped, so this process does the push)
    worker.stop(timeout=20)
    pushes = []
    for trial, (key, secret) in enumerate(delta_keys):
        for session in sessions:
            session.headers["X-Forwarded-For"] = f"10.200.{trial}.1"
        key_revoke(actor=user, key=key)  # commits; its enqueue waits in the broker, nobody consumes it
        started = time.monotonic()
        outcome = gateways_push()
        pushes.append(time.monotonic() - started)
        assert all(r.status == "applied" for r in outcome), outcome
        assert all(s.get(g.url + "/echo/x", headers={"X-API-Key": secret}).status_code == 401
                   for g, s in zip(gateways, sessions, strict=True))  # fmt: skip
    results["one_key_delta_push"] = summary(pushes)
    print("one-key delta push to 2 gateways:", results["one_key_delta_push"], flush=True)

    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def client_revocation(trials: int, portal: str, pat: str, user: Any, application: Any, gateways: list[Gateway]) -> Any:
    """(a) for OAuth clients: time from the REST revoke call until both gateways refuse the client's token."""
    from keys.services.clients import oauth_client_issue

    first, fleet = [], []
    session = requests.Session()
    for _ in range(trials):
        client, secret = oauth_client_issue(actor=user, application=application, name="bench")
        token = session.post(
            portal + "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client.client_id, secret),
            timeout=10,
        ).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        for gateway in gateways:
            answer = session.get(gateway.url + "/echo/x", headers=bearer, timeout=5)
            assert answer.status_code == 200, answer.text
        started = time.monotonic()
        response = session.post(
            f"{portal}/api/v1/clients/{client.pk}/revoke/", headers={"Authorization": f"Bearer {pat}"}, timeout=10
        )
        assert response.status_code == 200, response.text
        refused: dict[int, float] = {}
        while len(refused) < len(gateways):
            for index, gateway in enumerate(gateways):
                if index not in refused and session.get(gateway.url + "/echo/x", headers=bearer).status_code == 401:
                    refused[index] = time.monotonic() - started
            if time.monotonic() - started > 10:
                raise AssertionError("client revocation not enforced within 10 s")
        first.append(min(refused.values()))
        fleet.append(max(refused.values()))
    return {"first_gateway_refuses": summary(first), "both_gateways_refuse": summary(fleet)}


if __name__ == "__main__":
    sys.exit(main())
