"""A whole private Portico stack for fault tests: its own PostgreSQL, Redis, portal, Celery worker and gateway.

Everything runs as real processes on free loopback ports, so a test may stop or kill any part of it
without touching the machine's shared services or other tests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.gateway import Gateway
from tests.support.ports import free_port
from tests.support.private_services import PrivatePostgres, PrivateRedis
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]

SEED = """
import json
from django.contrib.auth import get_user_model
from gateway_sync.services import gateway_register
from keys.services import access_token_issue, key_issue
from portal.models import Api, Plan
from portal.services import application_create, organisation_create, subscription_create

user = get_user_model().objects.create_user(username="ops", email="ops@example.com", password="x" * 16)
org = organisation_create(user=user, name="Fault Co")
membership = org.memberships.get(user=user)
api = Api.objects.create(name="Echo", slug="echo", upstream_url=UPSTREAM, path_prefix="/echo")
plan = Plan.objects.create(api=api, name="Free", slug="free")
application = application_create(membership=membership, name="App")
subscription_create(actor=user, application=application, plan=plan)
key, secret = key_issue(actor=user, application=application, name="k")
_, pat = access_token_issue(user=user, name="ops")
gateway, client_id, client_secret, push_secret = gateway_register(name="edge-f", admin_url=ADMIN_URL)
print(json.dumps({"key_id": key.pk, "application_id": application.pk, "key": secret, "pat": pat, "client_id": client_id,
                  "client_secret": client_secret, "push_secret": push_secret}))
"""


@dataclass
class Stack:
    """Handles on every process of the private stack."""

    tmp: Path
    postgres: PrivatePostgres
    redis: PrivateRedis
    env: dict[str, str]
    portal_port: int = field(default_factory=free_port)
    seed: dict[str, Any] = field(default_factory=dict)
    portal: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    gateway: Gateway | None = None

    @property
    def portal_url(self) -> str:
        return f"http://127.0.0.1:{self.portal_port}"

    def manage(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=REPO, env=self.env, input=stdin,
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        with open(self.tmp / f"{name}.log", "ab") as log:
            return subprocess.Popen(args, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def start_portal(self) -> None:
        self.portal = self._spawn(
            "portal", [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.portal_port}", "--noreload"]
        )
        wait_until(lambda: requests.get(self.portal_url + "/healthz", timeout=1).ok, timeout=30)

    def start_worker(self) -> None:
        self.worker = self._spawn(
            "worker",
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--loglevel", "INFO",
             "--without-heartbeat", "--without-gossip", "--without-mingle"],
        )  # fmt: skip

    def start_gateway(self, admin_port: int) -> Gateway:
        runtime = self.tmp / "gateway"
        args = [
            "--name", "edge-f", "--listen", f"127.0.0.1:{free_port()}", "--admin", f"127.0.0.1:{admin_port}",
            "--runtime-dir", str(runtime), "--push-secret", self.seed["push_secret"],
            "--config-url", self.portal_url + "/gateway/v1/config", "--token-url", self.portal_url + "/o/token/",
            "--client-id", self.seed["client_id"], "--client-secret", self.seed["client_secret"],
            "--poll-interval", "1", "--log-flush-interval", "0.2",
        ]  # fmt: skip
        port = int(args[3].rsplit(":", 1)[1])
        self.gateway = Gateway("edge-f", port, admin_port, runtime, args)
        return self.gateway.start()

    def collect_usage(self) -> None:
        """What beat does every few seconds: ask the workers to collect every gateway's access log."""
        self.manage("shell", "-c", "from analytics.tasks import collect_logs; collect_logs.delay()")

    def api(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.seed['pat']}"}
        return requests.request(method, self.portal_url + path, headers=headers, timeout=10, **kw)

    def stop(self) -> None:
        if self.gateway:
            self.gateway.stop(signal.SIGTERM)
        for proc in (self.worker, self.portal):
            if proc and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        self.redis.stop()
        self.postgres.destroy()


@pytest.fixture
def stack(tmp_path: Path, upstream: str) -> Iterator[Stack]:
    postgres, redis = PrivatePostgres.create(), PrivateRedis.create(tmp_path / "redis")
    postgres.start()
    redis.start()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": postgres.url,
        "REDIS_URL": redis.url,
        "CELERY_BROKER_URL": redis.url,
        "PORTICO_VAR_DIR": str(tmp_path / "var"),
    }
    stack = Stack(tmp_path, postgres, redis, env)
    try:
        stack.manage("migrate", "--no-input", "-v", "0")
        admin_port = free_port()
        code = SEED.replace("UPSTREAM", repr(upstream)).replace("ADMIN_URL", repr(f"http://127.0.0.1:{admin_port}"))
        stack.seed = json.loads(stack.manage("shell", "-c", code).strip().splitlines()[-1])
        stack.start_portal()
        stack.start_worker()
        stack.start_gateway(admin_port)
        yield stack
    finally:
        stack.stop()
