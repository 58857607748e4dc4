"""A real edge gateway and the demo upstream: nginx processes started through their Python launchers.

The launchers exec nginx, so the PID we start is the nginx master's; it is stopped by that PID.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.support.ports import free_port
from tests.support.processes import PYTHON, child_pids, spawn, stop
from tests.support.waiting import wait_until

PUSH_SECRET = "test-push-secret"


@dataclass
class NginxProcess:
    """A started nginx master and its runtime dir (where its error log is)."""

    popen: subprocess.Popen[bytes]
    runtime_dir: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self, sig: int = signal.SIGQUIT, timeout: float = 10.0) -> None:
        stop(self.popen, sig, timeout)

    def worker_pids(self) -> list[int]:
        return child_pids(self.pid)

    def error_log(self) -> str:
        path = self.runtime_dir / "logs" / "error.log"
        return path.read_text() if path.exists() else ""


def start_nginx(module_args: list[str], runtime_dir: Path) -> NginxProcess:
    """Run a launcher module (`-m gateway.launcher ...`); its own output goes to <runtime_dir>.out beside it."""
    popen = spawn([PYTHON, *module_args], runtime_dir.parent / f"{runtime_dir.name}.out")
    return NginxProcess(popen, runtime_dir)


def start_upstream(listen: str, runtime_dir: Path, workers: int = 1, timeout: float = 30.0) -> NginxProcess:
    """The demo echo upstream (nginx + Lua) on listen (`127.0.0.1:PORT`), answering when this returns."""
    args = ["-m", "gateway.demo_upstream", "--listen", listen, "--runtime-dir", str(runtime_dir)]
    proc = start_nginx([*args, "--workers", str(workers)], runtime_dir)
    wait_until(lambda: requests.get(f"http://{listen}/ping", timeout=1).ok, timeout, what="demo upstream up")
    return proc


def sign(
    method: str, path: str, body: bytes, secret: str = PUSH_SECRET, ts: int | None = None, nonce: str | None = None
) -> dict[str, str]:
    """Admin request signature headers (see docs/gateway-protocol.md)."""
    stamp = str(int(time.time()) if ts is None else ts)
    nonce = nonce or os.urandom(12).hex()
    canonical = b"\n".join([stamp.encode(), nonce.encode(), method.encode(), path.encode(), body])
    return {
        "X-Portico-Timestamp": stamp,
        "X-Portico-Nonce": nonce,
        "X-Portico-Signature": hmac.new(secret.encode(), canonical, hashlib.sha256).hexdigest(),
    }


def launcher_args(name: str, port: int, admin_port: int, runtime_dir: Path, push_secret: str) -> list[str]:
    """The options every gateway.launcher run needs: name, both listeners, runtime dir, push secret."""
    return [
        "--name", name, "--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{admin_port}",
        "--runtime-dir", str(runtime_dir), "--push-secret", push_secret,
    ]  # fmt: skip


@dataclass
class Gateway:
    """A running gateway plus helpers to talk to its proxy and admin listeners."""

    name: str
    port: int
    admin_port: int
    runtime_dir: Path
    args: list[str]
    proc: NginxProcess | None = None
    session: requests.Session = field(default_factory=requests.Session)

    @classmethod
    def create(
        cls,
        name: str,
        runtime_dir: Path,
        options: list[str],
        *,
        push_secret: str = PUSH_SECRET,
        admin_port: int | None = None,
    ) -> Gateway:
        """A gateway not started yet, on free ports (admin_port: one the platform was already told), with options."""
        port, admin_port = free_port(), admin_port or free_port()
        args = launcher_args(name, port, admin_port, runtime_dir, push_secret)
        return cls(name, port, admin_port, runtime_dir, [*args, *options])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self, wait_ready: bool = True, fresh_ports: bool = False) -> Gateway:
        """Start nginx; on a first start, new ports if another process took ours since free_port()."""
        for _ in range(3):
            self.proc = start_nginx(["-m", "gateway.launcher", *self.args], self.runtime_dir)
            try:
                wait_until(self.exited_or_up)
            except AssertionError as slow:
                raise AssertionError(f"gateway not up:\n{self.proc.error_log()[-2000:]}") from slow
            if self.proc.popen.poll() is None:
                break
            if not fresh_ports or "Address already in use" not in self.proc.error_log():
                raise AssertionError(f"gateway exited on start:\n{self.proc.error_log()[-2000:]}")
            self.take_new_ports()
        if wait_ready:
            self.wait_ready()
        return self

    def exited_or_up(self) -> bool:
        assert self.proc
        return self.proc.popen.poll() is not None or requests.get(self.admin_url + "/_portico/status", timeout=1).ok

    def take_new_ports(self) -> None:
        old = (f"127.0.0.1:{self.port}", f"127.0.0.1:{self.admin_port}")
        self.port, self.admin_port = free_port(), free_port()
        moved = dict(zip(old, (f"127.0.0.1:{self.port}", f"127.0.0.1:{self.admin_port}"), strict=True))
        self.args = [moved.get(arg, arg) for arg in self.args]

    def stop(self, sig: int = signal.SIGQUIT) -> None:
        if self.proc:
            self.proc.stop(sig)

    def restart(self, wait_ready: bool = True) -> Gateway:
        self.stop()
        return self.start(wait_ready)

    def reload(self) -> None:
        """nginx -s reload: new workers, shared memory kept."""
        assert self.proc
        old = set(self.proc.worker_pids())
        os.kill(self.proc.pid, signal.SIGHUP)
        wait_until(lambda: set(self.proc.worker_pids()).isdisjoint(old), timeout=15)

    def wait_ready(self, version: int | None = None, timeout: float = 15.0) -> None:
        def ready() -> bool:
            r = requests.get(self.admin_url + "/_portico/ready", timeout=2)
            return r.status_code == 200 and (version is None or r.json()["version"] >= version)

        wait_until(ready, timeout=timeout)

    def get(self, path: str, key: str | None = None, **kw: Any) -> requests.Response:
        return self.request("GET", path, key, **kw)

    def request(self, method: str, path: str, key: str | None = None, **kw: Any) -> requests.Response:
        headers = kw.pop("headers", {})
        if key is not None:
            headers.setdefault("X-API-Key", key)
        return self.session.request(method, self.url + path, headers=headers, timeout=15, **kw)

    def signed(self, method: str, path: str, body: bytes = b"", **sign_kw: Any) -> requests.Response:
        headers = sign(method, path, body, **sign_kw)
        if body:
            headers["Content-Type"] = "application/json"
        return requests.request(method, self.admin_url + path, data=body, headers=headers, timeout=30)

    def push(self, changes: list[dict[str, Any]], frm: int, to: int) -> requests.Response:
        body = json.dumps({"from": frm, "to": to, "changes": changes}).encode()
        return self.signed("POST", "/_portico/config", body)

    def status(self) -> dict[str, Any]:
        return requests.get(self.admin_url + "/_portico/status", timeout=5).json()

    def logs(self, after: int = 0, limit: int = 1000) -> dict[str, Any]:
        r = self.signed("GET", f"/_portico/logs?after={after}&limit={limit}")
        assert r.status_code == 200, r.text
        return r.json()

    def records(self, after: int = 0) -> list[dict[str, Any]]:
        return [rec for b in self.logs(after)["batches"] for rec in b["records"]]

    def wait_records(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        return wait_until(lambda: (r := self.records()) and len(r) >= count and r, timeout=timeout)
