"""A real edge gateway and the demo upstream: nginx processes started through their Python launchers.

The launchers exec nginx, so the PID we start is the nginx master's; it is stopped by that PID.
"""

from __future__ import annotations

import glob
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

from tests.support.ports import free_ports
from tests.support.processes import PYTHON, child_pids, spawn, stop
from tests.support.waiting import wait_until

PUSH_SECRET = "test-push-secret"
FAKETIME_LIBRARY = "/usr/lib/*/faketime/libfaketime.so.1"
# What nginx says (on stderr and in its error log) when a port it should listen on is taken; it exits 2.5 s later.
PORT_TAKEN = "Address already in use"
# How much of the launcher's output and of the error log a start failure shows
REPORT_CHARS = 3000


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _text_from(path: Path, offset: int) -> str:
    if not path.exists():
        return ""
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


@dataclass
class NginxProcess:
    """A started nginx master and where it reports: the launcher's stdout/stderr file and nginx's error log."""

    popen: subprocess.Popen[bytes]
    runtime_dir: Path
    output_file: Path
    # Both files are appended to across restarts: this start's lines begin at these offsets.
    output_start: int = 0
    error_log_start: int = 0

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def error_log_file(self) -> Path:
        return self.runtime_dir / "logs" / "error.log"

    def stop(self, sig: int = signal.SIGQUIT, timeout: float = 10.0) -> None:
        stop(self.popen, sig, timeout)

    def worker_pids(self) -> list[int]:
        return child_pids(self.pid)

    def error_log(self) -> str:
        return self.error_log_file.read_text() if self.error_log_file.exists() else ""

    def has_bound(self) -> bool:
        """nginx writes its pid file once every listener is bound: ours, not a stranger on our port, answers."""
        pid_file = self.runtime_dir / "logs" / "nginx.pid"
        return pid_file.exists() and pid_file.read_text().strip() == str(self.pid)

    def port_taken(self) -> bool:
        return PORT_TAKEN in self.output() or PORT_TAKEN in self.error_log_since_start()

    def output(self) -> str:
        """What the launcher (and nginx before its error log opened) wrote to stdout and stderr since this start."""
        return _text_from(self.output_file, self.output_start)

    def error_log_since_start(self) -> str:
        return _text_from(self.error_log_file, self.error_log_start)

    def report(self) -> str:
        """Everything this start said: exit status, the launcher's stdout/stderr and nginx's error log."""
        code = self.popen.poll()
        return (
            f"exit status: {'still running' if code is None else code}\n"
            f"--- launcher stdout/stderr ({self.output_file}):\n{self.output()[-REPORT_CHARS:] or '(empty)'}\n"
            f"--- nginx error log ({self.error_log_file}):\n{self.error_log_since_start()[-REPORT_CHARS:] or '(empty)'}"
        )


def shifted_clock_env(seconds: int, rate: float = 1.0) -> dict[str, str]:
    """The environment for a process whose clock runs `seconds` off, `rate` times as fast from its start (Debian's
    libfaketime, preloaded). A fast clock makes TTLs run out under work that takes a few real seconds.

    nginx's workers are forked from the master, so they inherit the shifted clock: `ngx.now`, `Date` and the
    access log's `$msec` all move. Monotonic time stays real, so timers are unaffected.
    """
    libraries = sorted(glob.glob(FAKETIME_LIBRARY))
    if not libraries:
        raise RuntimeError("libfaketime is missing: apt-get install faketime (scripts/ensure-system.sh --for-tests)")
    return {
        **os.environ,
        "LD_PRELOAD": libraries[0],
        "FAKETIME": f"{seconds:+d}" + (f" x{rate:g}" if rate != 1 else ""),
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }


def start_nginx(module_args: list[str], runtime_dir: Path, env: dict[str, str] | None = None) -> NginxProcess:
    """Run a launcher module (`-m gateway.launcher ...`); its own output goes to <runtime_dir>.out beside it."""
    output_file = runtime_dir.parent / f"{runtime_dir.name}.out"
    output_start, error_log_start = _size(output_file), _size(runtime_dir / "logs" / "error.log")
    popen = spawn([PYTHON, *module_args], output_file, env)
    return NginxProcess(popen, runtime_dir, output_file, output_start, error_log_start)


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
    clock_shift: int = 0  # seconds this gateway's clock runs ahead (negative: behind), through libfaketime
    clock_rate: float = 1.0  # how fast its clock runs (libfaketime's `x` rate); timers stay on real time
    clock_origin: float = 0.0  # when the fast clock started (this process's time, about nginx's start)
    env: dict[str, str] | None = None  # the launcher's environment (PORTICO_GATEWAY_* as a unit's env file sets them)

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
        first, second = free_ports(2)
        if admin_port:  # told to the platform already: keep it, and listen on another
            port = first if first != admin_port else second
        else:
            port, admin_port = first, second
        args = launcher_args(name, port, admin_port, runtime_dir, push_secret)
        return cls(name, port, admin_port, runtime_dir, [*args, *options])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self, wait_ready: bool = True, fresh_ports: bool = False, timeout: float = 10.0) -> Gateway:
        """Start nginx and wait for its admin listener (up to timeout), then for its config if wait_ready.

        fresh_ports: on a first start, new ports if another process took ours since free_port(); whoever was told
        the old admin URL must be told admin_url again.
        """
        for _ in range(3):
            faked = self.clock_shift or self.clock_rate != 1
            env = shifted_clock_env(self.clock_shift, self.clock_rate) if faked else self.env
            self.clock_origin = time.time()
            self.proc = start_nginx(["-m", "gateway.launcher", *self.args], self.runtime_dir, env)
            try:
                wait_until(self.exited_or_up, timeout)
            except AssertionError as slow:
                raise AssertionError(f"gateway {self.name} not up within {timeout}s:\n{self.proc.report()}") from slow
            if self.proc.popen.poll() is None:
                break
            if not (fresh_ports and self.proc.port_taken()):
                raise AssertionError(f"gateway {self.name} exited on start:\n{self.proc.report()}")
            self.take_new_ports()
        else:
            raise AssertionError(f"gateway {self.name}: ports taken on 3 starts:\n{self.proc.report()}")
        if wait_ready:
            self.wait_ready()
        return self

    def exited_or_up(self) -> bool:
        assert self.proc
        if self.proc.popen.poll() is not None:
            return True
        return self.proc.has_bound() and requests.get(self.admin_url + "/_portico/status", timeout=1).ok

    def take_new_ports(self) -> None:
        old = (f"127.0.0.1:{self.port}", f"127.0.0.1:{self.admin_port}")
        self.port, self.admin_port = free_ports(2)
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

    def clock(self) -> float:
        """This gateway's time as its (possibly shifted or fast) clock tells it, give or take a second or two."""
        now = time.time()
        return self.clock_origin + (now - self.clock_origin) * self.clock_rate + self.clock_shift

    def signed(self, method: str, path: str, body: bytes = b"", **sign_kw: Any) -> requests.Response:
        sign_kw.setdefault("ts", int(self.clock()))  # fresh in this gateway's time
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
