"""A small real SMTP server on a free loopback port that keeps what it receives (and can answer slowly).

Enough of RFC 5321 for smtplib (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT): tests see what a real mail
server would have been given over TCP, and a slow DATA answer makes concurrent senders overlap."""

from __future__ import annotations

import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Sink:
    port: int
    messages: list[bytes] = field(default_factory=list)
    delay: float = 0.0


def _handler(sink: Sink) -> type[socketserver.StreamRequestHandler]:
    class Handler(socketserver.StreamRequestHandler):
        def reply(self, line: str) -> None:
            self.wfile.write(line.encode() + b"\r\n")

        def handle(self) -> None:
            self.reply("220 sink ready")
            while line := self.rfile.readline():
                verb = line.split(b" ", 1)[0].strip().upper()
                if verb == b"EHLO":
                    self.reply("250-sink")
                    self.reply("250 8BITMIME")
                elif verb == b"DATA":
                    self.reply("354 end with .")
                    data = b"".join(iter(lambda: self.rfile.readline(), b".\r\n"))
                    time.sleep(sink.delay)
                    sink.messages.append(data)
                    self.reply("250 queued")
                elif verb == b"QUIT":
                    self.reply("221 bye")
                    return
                else:  # HELO, MAIL, RCPT, RSET, NOOP
                    self.reply("250 ok")

    return Handler


@contextmanager
def smtp_sink(delay: float = 0.0) -> Iterator[Sink]:
    """Run the sink on a free port for the duration of the block."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _handler(Sink(port=0)))
    sink = Sink(port=server.server_address[1], delay=delay)
    server.RequestHandlerClass = _handler(sink)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
