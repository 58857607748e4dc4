"""The operator's TLS front (deploy/nginx/portico.conf) run as a private nginx on loopback ports.

The file is used as shipped, with only what an operator edits replaced: listen addresses, server name, certificate
paths and where gunicorn listens. Each replacement must match, so a change to the shipped file that this does not
know about fails here instead of quietly testing something else.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.ports import free_ports
from tests.support.processes import REPO, spawn, stop
from tests.support.waiting import wait_until

SHIPPED = REPO / "deploy" / "nginx" / "portico.conf"
SERVER_NAME = "portico.example.com"
GUNICORN = "http://127.0.0.1:8000"

MAIN = """\
{user}
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {prefix}/portico.conf;
}}
"""


def _replace(text: str, old: str, new: str, count: int) -> str:
    found = text.count(old)
    assert found == count, f"{SHIPPED.name}: expected {old!r} {count} time(s), found {found}"
    return text.replace(old, new)


def render_front(prefix: Path, http_port: int, https_port: int, portal: str, cert: Path, key: Path) -> Path:
    """The shipped server blocks for these ports, certificate and gunicorn address (`127.0.0.1:PORT`)."""
    text = SHIPPED.read_text()
    text = _replace(text, "    listen [::]:80;\n", "", 1)
    text = _replace(text, "    listen [::]:443 ssl http2;\n", "", 1)
    text = _replace(text, "listen 80;", f"listen 127.0.0.1:{http_port};", 1)
    text = _replace(text, "listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;", 1)
    text = _replace(text, f"server_name {SERVER_NAME};", "server_name 127.0.0.1 localhost;", 2)
    text = _replace(text, "/etc/ssl/portico/fullchain.pem", str(cert), 1)
    text = _replace(text, "/etc/ssl/portico/privkey.pem", str(key), 1)
    text = _replace(text, GUNICORN, f"http://{portal}", 4)
    for folder in ("tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
        (prefix / folder).mkdir(parents=True, exist_ok=True)
    (prefix / "portico.conf").write_text(text)
    # As root, nginx's workers would run as nobody, who cannot write our temp folders: run them as ourselves.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    main = prefix / "nginx.conf"
    main.write_text(MAIN.format(prefix=prefix, user=user))
    return main


@dataclass
class TlsFront:
    """A running front: HTTPS on https_port, the plain-HTTP redirect (and health checks) on http_port."""

    prefix: Path
    http_port: int
    https_port: int
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(cls, prefix: Path) -> TlsFront:
        http_port, https_port = free_ports(2)
        return cls(prefix, http_port, https_port)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, portal: str, cert: Path, key: Path) -> TlsFront:
        """nginx in front of gunicorn at portal (`127.0.0.1:PORT`), answering on both ports when this returns."""
        self.prefix.mkdir(parents=True, exist_ok=True)
        conf = render_front(self.prefix, self.http_port, self.https_port, portal, cert, key)
        test = subprocess.run(["nginx", "-t", "-p", f"{self.prefix}/", "-c", str(conf), "-e", "stderr"],
                              capture_output=True, text=True, timeout=30)  # fmt: skip
        assert test.returncode == 0, test.stderr
        args = ["nginx", "-p", f"{self.prefix}/", "-c", str(conf), "-e", str(self.prefix / "error.log")]
        self.process = spawn(args, self.prefix / "nginx.out")
        wait_until(lambda: requests.get(self.http_url + "/healthz", timeout=2).ok, 15, what="TLS front up")
        return self

    def stop(self) -> None:
        if self.process:
            stop(self.process)
