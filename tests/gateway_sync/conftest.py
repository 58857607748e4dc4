"""Gateway-sync fixtures: registered gateways, their OAuth2 tokens, and the real processes a push needs.

`celery_worker` runs `celery -A config worker` as a subprocess on a private Redis broker and this test's
database; `gateway_for` starts a real gateway (tests/support) that pulls from the live server.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.conf import settings
from django.test import Client

from config.celery import app as celery_app
from gateway_sync import tasks
from gateway_sync.models import Gateway
from gateway_sync.services import gateway_register
from tests.support.gateway import Gateway as RunningGateway
from tests.support.private_services import PrivateRedis
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Registered:
    """A registered gateway with the credentials it was shown once."""

    gateway: Gateway
    client_id: str
    client_secret: str
    push_secret: str


def register(name: str = "edge-1", admin_url: str = "http://127.0.0.1:9") -> Registered:
    return Registered(*gateway_register(name=name, admin_url=admin_url))


def fetch_token(client: Client, client_id: str, client_secret: str, scope: str | None = "gateway") -> str:
    """A client-credentials token from the real DOT token endpoint."""
    basic = base64.b64encode(f"{quote(client_id)}:{quote(client_secret)}".encode()).decode()
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope is not None else {})}
    response = client.post(
        "/o/token/",
        urlencode(form),
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


@pytest.fixture
def edge(db: Any) -> Registered:
    return register("edge-1")


@pytest.fixture
def edge_token(edge: Registered) -> str:
    return fetch_token(Client(), edge.client_id, edge.client_secret)


@pytest.fixture
def gateway_api(edge_token: str) -> Client:
    """A client presenting edge-1's bearer token."""
    return Client(HTTP_AUTHORIZATION=f"Bearer {edge_token}")


# --------------------------------------------------------------------------- real processes


def point_celery_at(url: str) -> None:
    """Make this process publish to `url` (the app caches its connection pools on first use)."""
    celery_app.conf.broker_url = url
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
    celery_app._pool = None
    celery_app.__dict__.get("amqp") and setattr(celery_app.amqp, "_producer_pool", None)
    tasks._broker_down_until = 0.0  # forget a previous test's dead broker


@pytest.fixture(scope="session")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    """A broker for this xdist worker only, so no other test's worker takes our tasks (or we theirs)."""
    server = PrivateRedis.create(tmp_path_factory.mktemp("broker"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def broker(private_redis: PrivateRedis) -> Iterator[str]:
    """This process enqueues to the private broker for the duration of the test."""
    previous = celery_app.conf.broker_url
    point_celery_at(private_redis.url)
    yield private_redis.url
    point_celery_at(previous)


@pytest.fixture
def celery_worker(broker: str, transactional_db: Any, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`celery -A config worker` on the private broker and this test's database (it sees committed rows)."""
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/12"),
        "CELERY_BROKER_URL": broker,
    }
    log = open(tmp_path / "worker.log", "ab")  # noqa: SIM115 - closed at teardown
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "threads", "--concurrency", "2",
         "--loglevel", "INFO", "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    wait_until(lambda: b"ready." in (tmp_path / "worker.log").read_bytes(), timeout=30)
    yield worker
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(10)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait(5)
    log.close()


@pytest.fixture
def gateway_for(
    live_server: Any,
    start_gateway: Callable[..., RunningGateway],
) -> Callable[..., tuple[RunningGateway, Gateway]]:
    """Factory: register a gateway on the platform and start a real one pulling from the live server."""

    def start(name: str = "edge-1", poll_interval: float = 30.0) -> tuple[RunningGateway, Gateway]:
        registered = register(name)
        extra = [
            "--config-url", f"{live_server.url}/gateway/v1/config", "--token-url", f"{live_server.url}/o/token/",
            "--client-id", registered.client_id, "--client-secret", registered.client_secret,
            "--push-secret", registered.push_secret, "--poll-interval", str(poll_interval),
            "--heartbeat-interval", "1",
        ]  # fmt: skip
        running = start_gateway(extra=extra, wait_ready=False, name=name)
        # start_gateway picks its own admin port; tell the platform where this one listens.
        Gateway.objects.filter(pk=registered.gateway.pk).update(admin_url=running.admin_url)
        running.wait_ready()
        return running, Gateway.objects.get(pk=registered.gateway.pk)

    return start
