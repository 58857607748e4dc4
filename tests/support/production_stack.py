"""Portico in its production configuration (deploy/, docs/deploy.md), as real processes on loopback ports.

gunicorn with deploy/gunicorn.conf.py and 2 workers under config.settings (DEBUG off, secure cookies, HSTS, HTTPS
redirect), behind the shipped nginx TLS front (tests/support/tls_front.py) with a self-signed certificate; its own
database on the machine's PostgreSQL; a private Redis (cache and broker); two Celery workers and beat; and two
gateways registered with `manage.py register_gateway`, which pull their config from the portal through the front
(HTTPS, certificate checked) and get pushes from the workers. The deploy steps run as an operator runs them
(deploy/systemd/portico-migrate.service): migrate, the signing key, collectstatic and `check --deploy`.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.support.celery_worker import COMMAND as WORKER_COMMAND
from tests.support.gateway import Gateway
from tests.support.ports import free_port
from tests.support.private_services import PrivateRedis, create_database
from tests.support.processes import PYTHON, REPO, child_pids, spawn, stop
from tests.support.tls import self_signed_certificate
from tests.support.tls_front import TlsFront
from tests.support.waiting import wait_until

GUNICORN_WORKERS = 2
CELERY_WORKERS = 2
# What the test environment may carry that must not leak into production settings (tests/settings.py's defaults).
FOREIGN = ("DJANGO_", "PORTICO_", "DATABASE_URL", "REDIS_URL", "CELERY_", "EMAIL_URL")


def production_env(tmp: Path, database_url: str, site_url: str) -> dict[str, str]:
    """config.settings as docs/deploy.md configures it behind a TLS proxy; mail to files so a test can read it."""
    base = {name: value for name, value in os.environ.items() if not name.startswith(FOREIGN)}
    return {
        **base,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "PORTICO_SECRETS_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "PORTICO_VAR_DIR": str(tmp / "var"),
        "PORTICO_STATIC_ROOT": str(tmp / "static"),
        "PORTICO_SITE_URL": site_url,
        "PORTICO_BEHIND_PROXY": "1",
        # Collection every 0.5 s instead of 2 s, so usage shows within the test's time.
        "PORTICO_USAGE_COLLECT_INTERVAL": "0.5",
    }


def _started(commands: list[list[str]], env: dict[str, str]) -> list[subprocess.Popen[str]]:
    """Management commands started at once: the deploy steps that do not depend on each other overlap."""
    return [
        subprocess.Popen([PYTHON, "manage.py", *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for args in commands
    ]  # fmt: skip


def _finished(started: list[subprocess.Popen[str]], timeout: float = 180) -> list[str]:
    """Each command's stdout once it succeeded (its stderr when it did not)."""
    outputs = []
    for process in started:
        out, err = process.communicate(timeout=timeout)
        assert process.returncode == 0, f"{' '.join(map(str, process.args[1:3]))} failed:\n{err[-3000:]}"
        outputs.append(out)
    return outputs


def read_env_file(path: Path) -> dict[str, str]:
    """The PORTICO_GATEWAY_* variables register_gateway wrote (shell-quoted, as systemd and `sh` read them)."""
    values = dict(re.findall(r"^(PORTICO_GATEWAY_\w+)=(.*)$", path.read_text(), re.M))
    return {name: shlex.split(value)[0] for name, value in values.items()}


@dataclass
class ProductionStack:
    """Every process of the production configuration, and what tests and the benchmark need from it."""

    tmp: Path
    database_url: str
    upstream_url: str
    front: TlsFront = field(init=False)
    env: dict[str, str] = field(init=False)
    gunicorn_port: int = field(default_factory=free_port)
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    redis: PrivateRedis | None = None
    gunicorn: subprocess.Popen[bytes] | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    gateways: list[Gateway] = field(default_factory=list)
    check_deploy_output: str = ""

    def __post_init__(self) -> None:
        self.front = TlsFront.create(self.tmp / "front")
        self.env = production_env(self.tmp, self.database_url, self.front.url)
        self.cert, self.key = self_signed_certificate(self.tmp / "tls")

    @property
    def url(self) -> str:
        """The portal as users reach it: through the TLS front."""
        return self.front.url

    @property
    def mail_dir(self) -> Path:
        return self.tmp / "var" / "mail"

    def session(self) -> requests.Session:
        """A client that trusts the stack's certificate and nothing else."""
        session = requests.Session()
        # Not the environment's CA bundle (REQUESTS_CA_BUNDLE would win over session.verify), nor its proxies.
        session.trust_env = False
        session.verify = str(self.cert)
        return session

    def start(self, gateways: int = 2, with_workers: bool = True) -> ProductionStack:
        """Deploy steps, then every process; the gateways are registered and up when this returns.

        Processes start as soon as what they read exists, while the deploy steps still run (migrate waits on
        PostgreSQL more than it computes): nothing asks them anything before the steps are done, so this only
        overlaps their start-up with migrate's. An operator runs the steps first (docs/deploy.md, "Upgrades").
        """
        self.redis = PrivateRedis.create(self.tmp / "redis")
        self.redis.start()
        self.env.update(REDIS_URL=self.redis.url)
        create_database(self.database_url, replace=True)
        created = [Gateway.create(f"edge-{n}", self.tmp / f"edge-{n}", []) for n in range(1, gateways + 1)]
        self.env["PORTICO_GATEWAY_URL"] = created[0].url if created else "http://127.0.0.1:9"  # what pages show
        logs = self.tmp / "logs"
        logs.mkdir(exist_ok=True)
        deploy_check = ["check", "--deploy", "--fail-level", "WARNING"]
        migrate, collect = (
            _started([["migrate", "--no-input", "-v", "0"], deploy_check], self.env),
            _started([["collectstatic", "--no-input", "-v", "0"]], self.env),
        )
        if with_workers:  # idle until beat (below) enqueues work
            for n in range(1, CELERY_WORKERS + 1):
                worker = [*WORKER_COMMAND, "--pool", "prefork", "--concurrency", "2", "--hostname", f"w{n}@%h"]
                self.processes[f"worker-{n}"] = spawn(worker, logs / f"worker-{n}.log", self.env)
        _finished(collect)  # whitenoise indexes the collected files when gunicorn's workers load the application
        args = [PYTHON, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "--bind", f"127.0.0.1:{self.gunicorn_port}",
                "--workers", str(GUNICORN_WORKERS), "config.wsgi"]  # fmt: skip
        self.gunicorn = spawn(args, logs / "gunicorn.log", self.env)  # as deploy/systemd/portico-portal.service
        _, self.check_deploy_output = _finished(migrate)
        seed = ["seed_demo", "--upstream", self.upstream_url, f"--admin-password={self.admin_password}"]
        steps = _started([["rotate_signing_key", "--if-missing"], seed, *map(self._registration, created)], self.env)
        if with_workers:
            beat = [PYTHON, "-m", "celery", "-A", "config", "beat", "--schedule", str(self.tmp / "beat-schedule")]
            self.processes["beat"] = spawn(beat, logs / "beat.log", self.env)
        self._wait_for_gunicorn()
        self.front.start(f"127.0.0.1:{self.gunicorn_port}", self.cert, self.key)
        _finished(steps)
        self.gateways = [self._configured(gateway) for gateway in created]
        for gateway in self.gateways:
            gateway.start(wait_ready=False)  # not fresh ports: the platform was told these
        for gateway in self.gateways:
            gateway.wait_ready(timeout=30)
        return self

    def _registration(self, gateway: Gateway) -> list[str]:
        """register_gateway as the operator runs it: credentials into an env file of mode 0600."""
        return ["register_gateway", "--name", gateway.name, "--admin-url", gateway.admin_url,
                "--env-file", str(self.tmp / f"{gateway.name}.env")]  # fmt: skip

    def _configured(self, gateway: Gateway) -> Gateway:
        """The gateway given its env file's variables in its environment, as deploy/systemd/portico-gateway@.service
        does (and no secret on its command line), and the front's certificate to check the portal with."""
        env_file = self.tmp / f"{gateway.name}.env"
        assert env_file.stat().st_mode & 0o777 == 0o600, "register_gateway must write its env file with mode 0600"
        values = read_env_file(env_file)
        assert values["PORTICO_GATEWAY_CONFIG_URL"] == f"{self.url}/gateway/v1/config"
        assert set(values) >= {"PORTICO_GATEWAY_TOKEN_URL", "PORTICO_GATEWAY_CLIENT_ID",
                               "PORTICO_GATEWAY_CLIENT_SECRET", "PORTICO_GATEWAY_PUSH_SECRET"}  # fmt: skip
        secret_at = gateway.args.index("--push-secret")
        del gateway.args[secret_at : secret_at + 2]
        gateway.args += ["--ca-file", str(self.cert), "--poll-interval", "1", "--log-flush-interval", "0.2"]
        base = {name: value for name, value in os.environ.items() if not name.startswith(FOREIGN)}
        gateway.env = {**base, **values}
        return gateway

    def _wait_for_gunicorn(self) -> None:
        url = f"http://127.0.0.1:{self.gunicorn_port}/healthz"

        def up() -> bool:
            exited = not self.gunicorn or self.gunicorn.poll() is not None
            assert not exited, f"gunicorn exited:\n{self.logs('gunicorn.log')[-3000:]}"
            return requests.get(url, timeout=2).ok

        wait_until(up, 60, 0.1, what="gunicorn up")
        wait_until(lambda: len(self.gunicorn_workers()) == GUNICORN_WORKERS, 10, what="gunicorn's workers")

    def gunicorn_workers(self) -> list[int]:
        assert self.gunicorn
        return child_pids(self.gunicorn.pid)

    def running(self) -> dict[str, bool]:
        """Whether each process we started is still alive (a crash in the middle of a test shows here)."""
        alive = {name: process.poll() is None for name, process in self.processes.items()}
        alive["gunicorn"] = bool(self.gunicorn and self.gunicorn.poll() is None)
        alive["front"] = bool(self.front.process and self.front.process.poll() is None)
        return alive

    def logs(self, name: str) -> str:
        path = self.tmp / "logs" / name
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Every process asked to stop at once (gunicorn and Celery shut down warm, a few seconds each), then reaped."""
        for gateway in self.gateways:
            gateway.stop(signal.SIGTERM)
        ours = [*self.processes.values(), *([self.gunicorn] if self.gunicorn else [])]
        for process in ours:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in ours:
            stop(process, timeout=30)
        self.front.stop()
        if self.redis:
            self.redis.stop()


def database_url_for(name: str) -> str:
    """A database called name on the server DATABASE_URL names (the machine's PostgreSQL by default)."""
    server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portico").rsplit("/", 1)[0]
    return f"{server}/{name}"
