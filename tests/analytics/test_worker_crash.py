"""A real Celery worker killed with SIGKILL mid-collection: the task is redelivered and counts once (TEST-PLAN #13)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Sum

from analytics.models import IngestedBatch, RequestEvent, UsageRollup
from analytics.tasks import collect_gateway_logs
from gateway_sync.models import Gateway
from tests.support.processes import REPO
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


class Worker:
    """`celery -A config worker` on a private queue, against the test database; stopped by its PID."""

    def __init__(self, queue: str, log: Path) -> None:
        env = os.environ | {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**connection.settings_dict),
            # One batch per fetch and many fetches per run: the run lasts long enough to be killed mid-way.
            "PORTICO_USAGE_FETCH_LIMIT": "1",
            "PORTICO_USAGE_FETCH_ROUNDS": "100000",
        }
        command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "-c", "1", "-P", "prefork"]
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info"]
        with open(log, "ab") as out:
            self.popen = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.log = log

    def children(self) -> list[int]:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.popen.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def wait_ready(self) -> None:
        wait_until(lambda: b"ready." in self.log.read_bytes(), timeout=30)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[tuple[Worker, str]]:
    queue = f"analytics-test-{uuid.uuid4().hex[:8]}"
    started = Worker(queue, tmp_path / "worker.log")
    yield started, queue
    started.stop()
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
