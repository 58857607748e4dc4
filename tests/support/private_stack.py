"""A whole private Portico stack as real processes: its own PostgreSQL, Redis, portal, Celery worker and gateway.

Everything runs on free loopback ports, so a fault test may stop or kill any part of it without touching the
machine's shared services or other tests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.support.celery_worker import CeleryWorker
from tests.support.gateway import Gateway
from tests.support.portal_process import manage, start_portal
from tests.support.ports import free_port
from tests.support.private_services import PrivatePostgres, PrivateRedis
from tests.support.processes import stop

SEED = """
import json
from django.contrib.auth import get_user_model
from gateway_sync.services import gateway_register
from keys.services import access_token_issue, key_issue
from portal.models import Api, Plan
from portal.services.applications import application_create, subscription_create
from portal.services.organisations import organisation_create

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

# For a gateway that had to take new ports on start: the platform pushes to the admin URL it was registered with.
MOVE_ADMIN_URL = """
from gateway_sync.models import Gateway
Gateway.objects.filter(name="edge-f").update(admin_url=ADMIN_URL)
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
    worker: CeleryWorker | None = None
    gateway: Gateway | None = None

    @property
    def portal_url(self) -> str:
        return f"http://127.0.0.1:{self.portal_port}"

    def manage(self, *args: str, stdin: str | None = None) -> str:
        return manage(*args, env=self.env, stdin=stdin)

    def start_portal(self) -> None:
        self.portal = start_portal(self.portal_port, self.tmp / "portal.log", self.env)

    def start_worker(self) -> None:
        self.worker = CeleryWorker.start(self.env, self.tmp / "worker.log", ["--pool", "solo"])

    def start_gateway(self, admin_port: int) -> Gateway:
        """The gateway the seed registered at admin_port; on new ports, re-registered, if another process took one."""
        options = [
            "--config-url", self.portal_url + "/gateway/v1/config", "--token-url", self.portal_url + "/o/token/",
            "--client-id", self.seed["client_id"], "--client-secret", self.seed["client_secret"],
            "--poll-interval", "1", "--log-flush-interval", "0.2",
        ]  # fmt: skip
        self.gateway = Gateway.create(
            "edge-f", self.tmp / "gateway", options, push_secret=self.seed["push_secret"], admin_port=admin_port
        )
        self.gateway.start(fresh_ports=True)
        if self.gateway.admin_port != admin_port:
            self.manage("shell", "-c", MOVE_ADMIN_URL.replace("ADMIN_URL", repr(self.gateway.admin_url)))
        return self.gateway

    def collect_usage(self) -> None:
        """What beat does every few seconds: ask the workers to collect every gateway's access log."""
        self.manage("shell", "-c", "from analytics.tasks import collect_logs; collect_logs.delay()")

    def api(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.seed['pat']}"}
        return requests.request(method, self.portal_url + path, headers=headers, timeout=10, **kw)

    def stop(self) -> None:
        if self.gateway:
            self.gateway.stop(signal.SIGTERM)
        if self.worker:
            self.worker.stop()
        if self.portal:
            stop(self.portal)
        self.redis.stop()
        self.postgres.destroy()


@contextmanager
def running_stack(tmp: Path, upstream: str) -> Iterator[Stack]:
    """A migrated and seeded stack with every process up, in tmp; all of it stopped and removed afterwards."""
    postgres, redis = PrivatePostgres.create(), PrivateRedis.create(tmp / "redis")
    postgres.start()
    redis.start()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": postgres.url,
        "REDIS_URL": redis.url,
        "CELERY_BROKER_URL": redis.url,
        "PORTICO_VAR_DIR": str(tmp / "var"),
    }
    stack = Stack(tmp, postgres, redis, env)
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
