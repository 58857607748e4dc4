"""Fixtures for black-box tests of the edge gateway: real nginx processes on free loopback ports.

Every process is started in a tmp dir and stopped by its PID. Nothing here needs Django or a database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from keys.tokens import DISPLAY_PREFIX_LENGTH, digest, generate

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
PUSH_SECRET = "test-push-secret"


def make_key() -> str:
    """A new random live API key in the platform's format (keys/tokens.py is the reference)."""
    return generate("live").token


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago on host."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll predicate until it returns something truthy; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except (requests.ConnectionError, OSError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


@dataclass
class Process:
    """A started nginx master (the launchers exec nginx, so the PID is the master's)."""

    popen: subprocess.Popen[bytes]
    runtime_dir: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self, sig: int = signal.SIGQUIT, timeout: float = 10.0) -> None:
        if self.popen.poll() is not None:
            return
        os.kill(self.pid, sig)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self.popen.wait(5)

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def error_log(self) -> str:
        path = self.runtime_dir / "logs" / "error.log"
        return path.read_text() if path.exists() else ""


def start_process(args: list[str], runtime_dir: Path) -> Process:
    with open(runtime_dir.parent / f"{runtime_dir.name}.out", "ab") as log:
        popen = subprocess.Popen([PYTHON, *args], cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    return Process(popen, runtime_dir)


@pytest.fixture(scope="session")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo echo upstream, shared by the whole session."""
    port = free_port()
    runtime = tmp_path_factory.mktemp("upstream") / "rt"
    proc = start_process(
        [
            "-m",
            "gateway.demo_upstream",
            "--listen",
            f"127.0.0.1:{port}",
            "--runtime-dir",
            str(runtime),
            "--workers",
            "2",
        ],
        runtime,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: requests.get(url + "/ping", timeout=1).ok)
    yield url
    proc.stop()


# --------------------------------------------------------------------------- snapshots


@dataclass
class Key:
    """A generated API key and its snapshot entry."""

    secret: str
    entry: dict[str, Any]

    @property
    def digest(self) -> str:
        return self.entry["digest"]


def key_entry(application_id: int = 5, organisation_id: int = 2, **overrides: Any) -> Key:
    """A fresh active key for the application, with snapshot fields overridable."""
    secret = make_key()
    entry = {
        "digest": digest(secret),
        "prefix": secret[:DISPLAY_PREFIX_LENGTH],
        "application_id": application_id,
        "organisation_id": organisation_id,
        "status": "active",
        "expires_at": None,
        "api_ids": [],
        "allowed_cidrs": [],
    }
    entry.update(overrides)
    return Key(secret, entry)


def api_entry(upstream_url: str, id: int = 1, path_prefix: str = "/demo", **overrides: Any) -> dict[str, Any]:
    """An API published at path_prefix, proxied to upstream_url."""
    api = {
        "id": id,
        "slug": f"api{id}",
        "host": None,
        "path_prefix": path_prefix,
        "upstream_url": upstream_url,
        "strip_prefix": True,
        "methods": ["GET", "POST"],
        "max_body_bytes": 1048576,
        "key_header": "X-API-Key",
        "allow_query_key": False,
        "query_key_param": "api_key",
        "connect_timeout_ms": 2000,
        "read_timeout_ms": 10000,
        "send_timeout_ms": 10000,
    }
    api.update(overrides)
    return api


def plan_entry(id: int = 3, **overrides: Any) -> dict[str, Any]:
    """An unlimited plan unless limits are given."""
    plan = {
        "id": id,
        "rate_per_second": None,
        "rate_per_minute": None,
        "quota_per_day": None,
        "quota_per_month": None,
        "store_failure_mode": "allow",
    }
    plan.update(overrides)
    return plan


def subscription_entry(
    id: int = 7, application_id: int = 5, api_id: int = 1, plan_id: int = 3, **overrides: Any
) -> dict[str, Any]:
    """An active subscription."""
    sub = {
        "id": id,
        "application_id": application_id,
        "api_id": api_id,
        "plan_id": plan_id,
        "status": "active",
        "blocked_until": None,
        "blocked_reason": None,
    }
    sub.update(overrides)
    return sub


def snapshot(
    version: int,
    apis: list[dict[str, Any]],
    plans: list[dict[str, Any]] | None = None,
    subscriptions: list[dict[str, Any]] | None = None,
    keys: list[Key] | None = None,
) -> dict[str, Any]:
    """A full config snapshot in the platform's format."""
    return {
        "version": version,
        "generated_at": "2026-11-23T10:00:00Z",
        "apis": apis,
        "plans": plans if plans is not None else [plan_entry()],
        "subscriptions": subscriptions if subscriptions is not None else [subscription_entry()],
        "keys": [k.entry for k in keys or []],
    }


def change(version: int, kind: str, id: Any, data: dict[str, Any] | None = None, op: str = "upsert") -> dict[str, Any]:
    """One delta entry."""
    return {"version": version, "kind": kind, "op": op, "id": id, "data": data}


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


# --------------------------------------------------------------------------- gateway


@dataclass
class Gateway:
    """A running gateway plus helpers to talk to its proxy and admin listeners."""

    name: str
    port: int
    admin_port: int
    runtime_dir: Path
    args: list[str]
    proc: Process | None = None
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self, wait_ready: bool = True, fresh_ports: bool = False) -> Gateway:
        """Start nginx; on a first start, new ports if another process took ours since free_port()."""
        for _ in range(3):
            self.proc = start_process(["-m", "gateway.launcher", *self.args], self.runtime_dir)
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


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[Callable[..., Gateway]]:
    """Factory: start_gateway(snapshot=dict|None, extra=[...], workers=1, wait_ready=True)."""
    started: list[Gateway] = []

    def start(
        snapshot: dict[str, Any] | None = None,
        *,
        extra: list[str] | None = None,
        workers: int = 1,
        wait_ready: bool = True,
        name: str = "edge-1",
    ) -> Gateway:
        rt = tmp_path / f"gw{len(started)}"
        rt.mkdir()
        port, admin_port = free_port(), free_port()
        args = [
            "--name",
            name,
            "--listen",
            f"127.0.0.1:{port}",
            "--admin",
            f"127.0.0.1:{admin_port}",
            "--runtime-dir",
            str(rt / "runtime"),
            "--push-secret",
            PUSH_SECRET,
            "--workers",
            str(workers),
            "--log-flush-interval",
            "0.2",
            "--keys-dict-size",
            "32m",
            "--limits-dict-size",
            "4m",
            # off unless a test turns it on (extra options come later and win): several tests
            # legitimately send many unknown keys from 127.0.0.1
            "--invalid-key-limit",
            "0",
        ]
        if snapshot is not None:
            snap_file = rt / "snapshot.json"
            snap_file.write_text(json.dumps(snapshot))
            args += ["--snapshot-file", str(snap_file)]
        gw = Gateway(name, port, admin_port, rt / "runtime", args + (extra or []))
        started.append(gw)
        ready = wait_ready and (snapshot is not None or "--config-url" in (extra or []))
        return gw.start(wait_ready=ready, fresh_ports=True)

    yield start
    for gw in started:
        gw.stop(signal.SIGTERM)
        gw.session.close()


# --------------------------------------------------------------------------- fake platform


class Platform:
    """A tiny stand-in for the control plane's gateway API (OAuth2 token, snapshot, changes, heartbeat)."""

    client_id = "gw-client"
    client_secret = "gw-secret"

    def __init__(self) -> None:
        self.snapshot: dict[str, Any] | None = None
        self.changes: list[dict[str, Any]] = []  # ordered by version
        self.oldest_change = 0  # changes?after=V answers 410 when V < this
        self.heartbeats: list[dict[str, Any]] = []
        self.requests: list[str] = []
        self.tokens: set[str] = set()
        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def args(self) -> list[str]:
        return [
            "--config-url",
            f"{self.base}/gateway/v1/config",
            "--token-url",
            f"{self.base}/o/token/",
            "--client-id",
            self.client_id,
            "--client-secret",
            self.client_secret,
            "--poll-interval",
            "0.5",
        ]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def reply(self, status: int, doc: Any = None, headers: dict[str, str] | None = None) -> None:
                body = b"" if doc is None else json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def authed(self) -> bool:
                auth = self.headers.get("Authorization", "")
                return auth.startswith("Bearer ") and auth[7:] in platform.tokens

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length).decode()
                platform.requests.append(f"POST {self.path}")
                if self.path == "/o/token/":
                    import base64
                    from urllib.parse import parse_qs

                    expected = base64.b64encode(f"{platform.client_id}:{platform.client_secret}".encode()).decode()
                    form = parse_qs(body)
                    if self.headers.get("Authorization") != f"Basic {expected}":
                        return self.reply(401, {"error": "invalid_client"})
                    if form.get("grant_type") != ["client_credentials"] or form.get("scope") != ["gateway"]:
                        return self.reply(400, {"error": "invalid_request"})
                    token = os.urandom(8).hex()
                    platform.tokens.add(token)
                    return self.reply(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})
                if self.path == "/gateway/v1/heartbeat" and self.authed():
                    platform.heartbeats.append(json.loads(body))
                    return self.reply(204)
                return self.reply(401)

            def do_GET(self) -> None:
                platform.requests.append(f"GET {self.path}")
                if not self.authed():
                    return self.reply(401)
                if self.path == "/gateway/v1/config":
                    snap = platform.snapshot
                    if snap is None:
                        return self.reply(503)
                    if self.headers.get("If-None-Match") == f'"{snap["version"]}"':
                        return self.reply(304)
                    return self.reply(200, snap, {"ETag": f'"{snap["version"]}"'})
                if self.path.startswith("/gateway/v1/changes?after="):
                    after = int(self.path.split("=", 1)[1])
                    if after < platform.oldest_change:
                        return self.reply(410)
                    newer = [c for c in platform.changes if c["version"] > after]
                    to = max([c["version"] for c in newer], default=after)
                    return self.reply(200, {"from": after, "to": to, "changes": newer})
                return self.reply(404)

        return Handler


@pytest.fixture
def platform() -> Iterator[Platform]:
    """A fake control plane on a free port."""
    p = Platform()
    yield p
    p.stop()
