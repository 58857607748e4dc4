"""A real Celery worker killed with SIGKILL mid-collection: the task is redelivered and counts once (TEST-PLAN #13)."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Sum

from analytics.models import IngestedBatch, RequestEvent, UsageRollup
from analytics.tasks import collect_gateway_logs
from gateway_sync.models import Gateway
from tests.support.celery_worker import CeleryWorker, worker_env
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[tuple[CeleryWorker, str]]:
    """`celery -A config worker` on a private queue, against the test database; stopped by its PID."""
    queue = f"analytics-test-{uuid.uuid4().hex[:8]}"
    env = worker_env(
        connection.settings_dict,
        # One batch per fetch and many fetches per run: the run lasts long enough to be killed mid-way.
        PORTICO_USAGE_FETCH_LIMIT="1",
        PORTICO_USAGE_FETCH_ROUNDS="100000",
    )
    started = CeleryWorker.start(env, tmp_path / "worker.log", ["-Q", queue, "-c", "1", "-P", "prefork"])
    yield started, queue
    started.stop(timeout=15)
    connection.close()


def test_a_worker_killed_mid_collection_is_redelivered_and_counts_exactly_once(
    api_key, serving_gateway, worker
) -> None:
    running, row = serving_gateway(flush_interval=0.01)
    total = 600
    for n in range(total):
        running.get(f"/weather/items/{n}", key=api_key[1])
    wait_until(lambda: len(running.records()) >= total)
    batches = running.logs(limit=1000)["batches"]
    last_sequence = batches[-1]["sequence"]
    assert len(batches) >= 20, "too few batches to kill the worker in the middle"
    process, queue = worker
    process.wait_ready()

    collect_gateway_logs.apply_async((row.pk,), queue=queue)
    wait_until(lambda: IngestedBatch.objects.count() >= 3, timeout=30, interval=0.005)
    [child] = process.children()
    os.kill(child, signal.SIGKILL)
    done_at_kill = IngestedBatch.objects.count()

    # The pool replaces the child; acks_late + reject_on_worker_lost put the task back on the queue.
    wait_until(lambda: Gateway.objects.get(pk=row.pk).log_cursor == last_sequence, timeout=60, interval=0.1)

    assert 0 < done_at_kill < len(batches)
    assert b"WorkerLostError" in process.log.read_bytes() or b"exited with 'signal 9" in process.log.read_bytes()
    assert IngestedBatch.objects.count() == len(batches)
    assert RequestEvent.objects.count() == total
    for granularity in ("minute", "hour", "day"):
        rollups = UsageRollup.objects.filter(granularity=granularity)
        assert rollups.aggregate(n=Sum("requests"))["n"] == total
    wait_until(lambda: running.status()["log"]["acked"] == last_sequence)
