"""Gateway-sync fixtures: registered gateways, their OAuth2 tokens, and the real processes a push needs.

`celery_worker` runs `celery -A config worker` as a subprocess on a private Redis broker and this test's
database; `gateway_for` starts a real gateway (tests/support) that pulls from the live server.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from config.celery import app as celery_app
from gateway_sync.models import Gateway
from tests.support.celery_broker import point_celery_at
from tests.support.celery_worker import CeleryWorker, worker_env
from tests.support.gateway import Gateway as RunningGateway
from tests.support.private_services import PrivateRedis
from tests.support.registration import Registered, fetch_token, register


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
def celery_worker(broker: str, transactional_db: Any, tmp_path: Path) -> Iterator[CeleryWorker]:
    """`celery -A config worker` on the private broker and this test's database (it sees committed rows)."""
    env = worker_env(
        settings.DATABASES["default"],
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/12"),
        CELERY_BROKER_URL=broker,
    )
    worker = CeleryWorker.start(env, tmp_path / "worker.log", ["--pool", "threads", "--concurrency", "2"])
    worker.wait_ready(timeout=30)
    yield worker
    worker.stop()


@pytest.fixture
def gateway_for(
    live_server: Any, start_gateway: Callable[..., RunningGateway]
) -> Callable[..., tuple[RunningGateway, Gateway]]:
    """Factory: register a gateway on the platform and start a real one pulling from the live server."""

    def start(
        name: str = "edge-1",
        poll_interval: float = 30.0,
        options: list[str] | None = None,
        clock_shift: int = 0,
    ) -> tuple[RunningGateway, Gateway]:
        registered = register(name)
        extra = [
            "--config-url", f"{live_server.url}/gateway/v1/config", "--token-url", f"{live_server.url}/o/token/",
            "--client-id", registered.client_id, "--client-secret", registered.client_secret,
            "--push-secret", registered.push_secret, "--poll-interval", str(poll_interval),
            "--heartbeat-interval", "1", *(options or []),
        ]  # fmt: skip
        running = start_gateway(extra=extra, wait_ready=False, name=name, clock_shift=clock_shift)
        # start_gateway picks its own admin port; tell the platform where this one listens.
        Gateway.objects.filter(pk=registered.gateway.pk).update(admin_url=running.admin_url)
        running.wait_ready()
        return running, Gateway.objects.get(pk=registered.gateway.pk)

    return start
