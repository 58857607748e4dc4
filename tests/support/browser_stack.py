"""Portico as a developer meets it, for the browser tests: every part a real process on free loopback ports.

Production settings (config.settings, DEBUG off, static files collected), its own database on the machine's
PostgreSQL, a private Redis as cache and broker, a Celery worker and beat, the demo upstream and one gateway
registered on the platform. Emails go to files, as `make run` writes them, so a test can open their links.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import signal
import subprocess
from dataclasses import dataclass, field
from email import message_from_string
from email.message import Message
from pathlib import Path

from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value, yield_hotp_counters_from_time

from tests.support.celery_worker import COMMAND as WORKER_COMMAND
from tests.support.gateway import Gateway
from tests.support.portal_process import manage, start_portal
from tests.support.private_services import PrivateRedis, create_database
from tests.support.processes import PYTHON, spawn, stop
from tests.support.waiting import wait_until

ADMIN_EMAIL = "admin@portico.localhost"
# The staff account's authenticator, set by the stack so tests can compute its codes.
ADMIN_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

GIVE_ADMIN_TOTP = """
from allauth.mfa.models import Authenticator
from django.contrib.auth import get_user_model
admin = get_user_model().objects.get(email=EMAIL)
Authenticator.objects.get_or_create(user=admin, type=Authenticator.Type.TOTP, defaults={"data": {"secret": SECRET}})
"""


def totp_code(secret: str) -> str:
    """The current six-digit code of an authenticator app holding secret."""
    return format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))


@dataclass
class BrowserStack:
    """The running stack and what tests need from it: addresses, the staff login, mail and management commands."""

    tmp: Path
    env: dict[str, str]
    portal_port: int
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    redis: PrivateRedis | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    gateway: Gateway | None = None

    @property
    def portal_url(self) -> str:
        return f"http://127.0.0.1:{self.portal_port}"

    @property
    def gateway_url(self) -> str:
        assert self.gateway
        return self.gateway.url

    @property
    def mail_dir(self) -> Path:
        return self.tmp / "var" / "mail"

    def manage(self, *args: str) -> str:
        return manage(*args, env=self.env)

    def shell(self, code: str, **values: object) -> str:
        """Run Python in the platform's Django shell with values spliced in as literals."""
        for name, value in values.items():
            code = code.replace(name, repr(value))
        return self.manage("shell", "-c", code)

    def mails_to(self, address: str) -> list[Message]:
        """Every message the file backend wrote to address, oldest first."""
        found = []
        for path in sorted(self.mail_dir.glob("*.log"), key=lambda p: p.stat().st_mtime):
            for raw in path.read_text().split("-" * 79 + "\n"):
                if raw.strip():
                    message = message_from_string(raw)
                    if address in message.get("To", ""):
                        found.append(message)
        return found

    def link_in_last_mail_to(self, address: str, pattern: str, timeout: float = 10.0) -> str:
        """The first URL matching pattern in the newest message to address (waiting for it to be written)."""

        def link() -> str | None:
            messages = self.mails_to(address)
            body = str(messages[-1].get_payload(decode=True).decode()) if messages else ""
            match = re.search(rf"{re.escape(self.portal_url)}{pattern}", body)
            return match.group(0) if match else None

        return wait_until(link, timeout, what=f"a mail to {address} with a link to {pattern}")

    def start(self, upstream_url: str) -> BrowserStack:
        """Migrate, seed and start every process; the gateway's public address is fixed before the portal starts."""
        self.redis = PrivateRedis.create(self.tmp / "redis")
        self.redis.start()
        self.env.update(REDIS_URL=self.redis.url, CELERY_BROKER_URL=self.redis.url)
        create_database(self.env["DATABASE_URL"], replace=True)
        self.manage("migrate", "--no-input", "-v", "0")
        self.manage("rotate_signing_key", "--if-missing")  # the deploy step (docs/oauth.md): the token signing key
        self.manage("collectstatic", "--no-input", "-v", "0")
        # "=" form: a generated password may begin with "-", which argparse would take for an option
        self.manage("seed_demo", "--upstream", upstream_url, f"--admin-password={self.admin_password}")
        self.shell(GIVE_ADMIN_TOTP, EMAIL=ADMIN_EMAIL, SECRET=ADMIN_TOTP_SECRET)
        self.gateway = self._register_gateway()
        self.env["PORTICO_GATEWAY_URL"] = self.gateway.url  # what pages show developers
        logs = self.tmp / "logs"
        logs.mkdir(exist_ok=True)
        self.processes.append(start_portal(self.portal_port, logs / "portal.log", self.env))
        self.processes.append(spawn([*WORKER_COMMAND, "--pool", "threads", "-c", "4"], logs / "worker.log", self.env))
        beat = [PYTHON, "-m", "celery", "-A", "config", "beat", "--schedule", str(self.tmp / "beat-schedule")]
        self.processes.append(spawn(beat, logs / "beat.log", self.env))
        self.gateway.start(wait_ready=False)  # not fresh_ports: the portal already shows this address
        self.gateway.wait_ready(timeout=30)
        return self

    def _register_gateway(self) -> Gateway:
        """edge-b, registered on the platform with its own OAuth2 client and push secret, not started yet."""
        env_file = self.tmp / "gateway.env"
        gateway = Gateway.create("edge-b", self.tmp / "gateway", [])
        self.manage(
            "register_gateway", "--name", "edge-b", "--admin-url", gateway.admin_url, "--env-file", str(env_file)
        )
        values = dict(re.findall(r"^(PORTICO_GATEWAY_\w+)=(.*)$", env_file.read_text(), re.M))
        credentials = {name: shlex.split(value)[0] for name, value in values.items()}
        gateway.args += [
            "--config-url", f"{self.portal_url}/gateway/v1/config", "--token-url", f"{self.portal_url}/o/token/",
            "--client-id", credentials["PORTICO_GATEWAY_CLIENT_ID"],
            "--client-secret", credentials["PORTICO_GATEWAY_CLIENT_SECRET"],
            "--poll-interval", "1", "--log-flush-interval", "0.2",
        ]  # fmt: skip
        gateway.args[gateway.args.index("--push-secret") + 1] = credentials["PORTICO_GATEWAY_PUSH_SECRET"]
        return gateway

    def stop(self) -> None:
        if self.gateway:
            self.gateway.stop(signal.SIGTERM)
        for process in reversed(self.processes):
            stop(process)
        if self.redis:
            self.redis.stop()


def browser_stack_env(tmp: Path, portal_port: int, database_url: str) -> dict[str, str]:
    """Production settings on loopback: no TLS (PORTICO_SECURE=0), mail to files, fast usage collection."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "PORTICO_VAR_DIR": str(tmp / "var"),
        "PORTICO_SECURE": "0",
        "PORTICO_SITE_URL": f"http://127.0.0.1:{portal_port}",
        "PORTICO_USAGE_COLLECT_INTERVAL": "0.5",
        "PORTICO_WEBHOOKS_ALLOW_LOOPBACK_HTTP": "1",  # the webhook test's receiver listens on 127.0.0.1
        # The signing key made at start signs this soon (the stack's gateway polls every second), not 5 minutes later.
        "PORTICO_OAUTH_KEY_PUBLISH_SECONDS": "3",
    }
