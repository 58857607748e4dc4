"""The portal as processes (`manage.py` commands, `runserver`), for stacks that run every part for real."""

from __future__ import annotations

import subprocess
from pathlib import Path

import requests

from tests.support.processes import PYTHON, REPO, spawn
from tests.support.waiting import wait_until


def manage(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    """Run a management command to completion; its stdout, or the failure with its stderr."""
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=REPO, env=env, input=stdin, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def start_portal(
    port: int, log: Path, env: dict[str, str] | None = None, timeout: float = 30.0
) -> subprocess.Popen[bytes]:
    """`runserver` on 127.0.0.1:port, answering /healthz when this returns."""
    portal = spawn([PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"], log, env)
    url = f"http://127.0.0.1:{port}/healthz"
    wait_until(lambda: requests.get(url, timeout=1).ok, timeout=timeout, what="portal up")
    return portal
