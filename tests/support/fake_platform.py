"""A tiny stand-in for the control plane's gateway API, so gateway tests need no Django: a thread on a free port."""

from __future__ import annotations

import base64
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from tests.support.ports import free_port
from tests.support.snapshots import streamed


class Platform:
    """A tiny stand-in for the control plane's gateway API (OAuth2 token, snapshot, changes, heartbeat)."""

    client_id = "gw-client"
    client_secret = "gw-secret"

    def __init__(self) -> None:
        self.snapshot: dict[str, Any] | None = None
        self.changes: list[dict[str, Any]] = []  # ordered by version
        self.oldest_change = 0  # changes?after=V answers 410 when V < this
        self.heartbeats: list[dict[str, Any]] = []
        self.snapshot_text: str | None = None  # served instead of the snapshot when set (a damaged download)
        self.streamed = True  # the snapshot in the platform's layout (False: one line of JSON, as older platforms)
        self.down = False  # answers 503 to everything, as a platform that is unreachable behind its proxy
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
                body = b"" if doc is None else (doc if isinstance(doc, bytes) else json.dumps(doc).encode())
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
                if platform.down:
                    return self.reply(503)
                if self.path == "/o/token/":
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
                if platform.down:
                    return self.reply(503)
                if not self.authed():
                    return self.reply(401)
                if self.path == "/gateway/v1/config":
                    snap = platform.snapshot
                    if snap is None:
                        return self.reply(503)
                    if self.headers.get("If-None-Match") == f'"{snap["version"]}"':
                        return self.reply(304)
                    text = platform.snapshot_text or (streamed(snap) if platform.streamed else json.dumps(snap))
                    return self.reply(200, text.encode(), {"ETag": f'"{snap["version"]}"'})
                if self.path.startswith("/gateway/v1/changes?after="):
                    after = int(self.path.split("=", 1)[1])
                    if after < platform.oldest_change:
                        return self.reply(410)
                    newer = [c for c in platform.changes if c["version"] > after]
                    to = max([c["version"] for c in newer], default=after)
                    return self.reply(200, {"from": after, "to": to, "changes": newer})
                return self.reply(404)

        return Handler
