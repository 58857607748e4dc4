"""`celery -A config worker` as a real child process for tests and bench/, so tasks run as in production."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.processes import PYTHON, child_pids, spawn, stop
from tests.support.waiting import wait_until

# No heartbeat, gossip or mingle: a test's worker has no other worker to talk to, and starts sooner.
COMMAND = [PYTHON, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO",
           "--without-heartbeat", "--without-gossip", "--without-mingle"]  # fmt: skip


def worker_env(database: Mapping[str, Any], **overrides: str) -> dict[str, str]:
    """This environment for a worker on the test settings and a Django database (its settings dict)."""
    url = "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**database)
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": url, **overrides}


@dataclass
class CeleryWorker:
    """A started worker and its log file; stopped by its PID."""

    popen: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, env: dict[str, str] | None, log: Path, options: list[str]) -> CeleryWorker:
        """A worker with these pool and queue options; returns at once (wait_ready waits)."""
        return cls(spawn([*COMMAND, *options], log, env), log)

    def wait_ready(self, timeout: float = 30.0) -> None:
        wait_until(lambda: b"ready." in self.log.read_bytes(), timeout=timeout, what="Celery worker ready")

    def children(self) -> list[int]:
        """The pool's processes."""
        return child_pids(self.popen.pid)

    def stop(self, timeout: float = 10.0) -> None:
        """A warm shutdown (SIGTERM); SIGKILL if it outlives timeout."""
        stop(self.popen, signal.SIGTERM, timeout)
