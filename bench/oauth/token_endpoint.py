"""Consumer token endpoint throughput: tokens/s from `/oauth/token` next to a baseline REST call, same portal.

    .venv/bin/python -m bench.oauth.token_endpoint [--requests 400] [--concurrency 4] [--rounds 3]
        [--max-seconds 60] [--database-url postgres://postgres@127.0.0.1:5432/portico_bench_oauth] [--json out.json]

Everything on 127.0.0.1: a scratch PostgreSQL database (dropped and re-created), a private Redis (the cache that
holds the throttling counters), and the portal as `manage.py runserver --noreload` (threaded; gunicorn is not
installed). Each round runs the baseline, then the token endpoint, --requests each with --concurrency clients
(keep-alive sessions), every phase stopped after --max-seconds. Baseline: `GET /api/v1/applications/{id}/keys/`
with a personal access token (authenticated, one org-scoped list query). Token: `POST /oauth/token` with Basic
client credentials; each answer must be 200 (a token is signed with ES256 and its `jti` row written).

The per-client throttle would stop the run at PORTICO_OAUTH_TOKEN_RATE, so the portal runs with a rate no run
reaches (the throttle's own cost, two cache round trips, is still paid on every request), and with a 1 s
publish delay so the first signing key is usable at once.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from tests.support.portal_process import manage, start_portal
from tests.support.ports import free_port
from tests.support.private_services import PrivateRedis, create_database
from tests.support.processes import stop


def _phase(call: Callable[[requests.Session], int], total: int, concurrency: int, max_seconds: float) -> dict[str, Any]:
    """`total` calls over `concurrency` sessions, stopped at `max_seconds`; rate, latencies and non-200 count."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    remaining = [total]
    deadline = time.monotonic() + max_seconds

    def worker() -> None:
        nonlocal errors
        session = requests.Session()
        while time.monotonic() < deadline:
            with lock:
                if remaining[0] == 0:
                    return
                remaining[0] -= 1
            started = time.monotonic()
            status = call(session)
            elapsed = time.monotonic() - started
            with lock:
                latencies.append(elapsed)
                errors += status != 200

    started = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    wall = time.monotonic() - started
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "errors": errors,
        "per_second": round(len(latencies) / wall, 1),
        "p50_ms": round(1000 * statistics.median(ordered), 1),
        "p99_ms": round(1000 * ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))], 1),
    }


def _seed() -> tuple[int, str, str, str]:
    """Bench data through the services: an org, an API, a subscription, an OAuth client and a PAT."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from keys.services import access_token_issue
    from keys.services.clients import oauth_client_issue
    from keys.services.signing import signing_key_prepare
    from portal.models import Api, Plan
    from portal.services.applications import application_create, subscription_create
    from portal.services.organisations import organisation_create

    user = get_user_model().objects.create_user(username="bench", email="bench@example.com", password="x" * 16)
    organisation = organisation_create(user=user, name="Bench")
    membership = organisation.memberships.get(user=user)
    api = Api.objects.create(name="Echo", slug="echo", path_prefix="/echo", upstream_url="http://127.0.0.1:9")
    plan = Plan.objects.create(api=api, name="Unlimited", slug="unlimited")
    application = application_create(membership=membership, name="Bench app")
    subscription_create(actor=user, application=application, plan=plan)
    client, secret = oauth_client_issue(actor=user, application=application, name="bench")
    _, pat = access_token_issue(user=user, name="bench")
    signing_key_prepare()
    return application.pk, client.client_id, secret, pat


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/portico_bench_oauth")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="portico-bench-oauth-"))
    cache = PrivateRedis.create(tmp / "redis")
    cache.start()
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": args.database_url,
            "REDIS_URL": cache.url,
            "PORTICO_VAR_DIR": str(tmp / "var"),
            "PORTICO_OAUTH_TOKEN_RATE": "1000000000/m",
            "PORTICO_LOG_LEVEL": "WARNING",
            "PORTICO_OAUTH_KEY_PUBLISH_SECONDS": "1",
        }
    )
    portal = None
    try:
        create_database(args.database_url, replace=True)
        manage("migrate", "--no-input", "-v", "0")
        application_id, client_id, secret, pat = _seed()
        time.sleep(1.5)  # the first signing key waits out the (1 s) publish delay
        port = free_port()
        portal = start_portal(port, tmp / "portal.log", timeout=60)
        base = f"http://127.0.0.1:{port}"

        def baseline(session: requests.Session) -> int:
            url = f"{base}/api/v1/applications/{application_id}/keys/"
            return session.get(url, headers={"Authorization": f"Bearer {pat}"}, timeout=30).status_code

        def token(session: requests.Session) -> int:
            data = {"grant_type": "client_credentials", "scope": "echo"}
            return session.post(f"{base}/oauth/token", data=data, auth=(client_id, secret), timeout=30).status_code

        for warm in (baseline, token):
            _phase(warm, 20, args.concurrency, args.max_seconds)
        rounds = []
        for index in range(args.rounds):
            result = {
                "baseline": _phase(baseline, args.requests, args.concurrency, args.max_seconds),
                "token": _phase(token, args.requests, args.concurrency, args.max_seconds),
            }
            result["ratio"] = round(result["token"]["per_second"] / result["baseline"]["per_second"], 2)
            rounds.append(result)
            print(f"round {index + 1}: {json.dumps(result)}", flush=True)
        summary = {
            "concurrency": args.concurrency,
            "requests_per_phase": args.requests,
            "baseline_per_second_median": statistics.median(r["baseline"]["per_second"] for r in rounds),
            "tokens_per_second_median": statistics.median(r["token"]["per_second"] for r in rounds),
            "ratio_median": statistics.median(r["ratio"] for r in rounds),
            "errors": sum(r["baseline"]["errors"] + r["token"]["errors"] for r in rounds),
            "rounds": rounds,
        }
        print(json.dumps({k: v for k, v in summary.items() if k != "rounds"}), flush=True)
        if args.json:
            args.json.write_text(json.dumps(summary, indent=2))
        return 1 if summary["errors"] else 0
    finally:
        if portal is not None:
            stop(portal)
        cache.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
