"""A real HTTP receiver on 127.0.0.1 for webhook tests: answers from a script and keeps every request it got."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    path: str


@dataclass
class Receiver:
    """`answers` are (status, extra headers, body) in order; the last one repeats."""

    answers: list[tuple[int, dict[str, str], bytes]]
    received: list[Received] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"


@contextmanager
def receiver(*answers: tuple[int, dict[str, str], bytes]) -> Iterator[Receiver]:
    """Serve on a free loopback port in a thread until the block ends."""
    state = Receiver(answers=list(answers) or [(204, {}, b"")])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            state.received.append(Received(dict(self.headers.items()), self.rfile.read(length), self.path))
            index = min(len(state.received), len(state.answers)) - 1
            status, headers, body = state.answers[index]
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
