"""Private PostgreSQL and Redis servers on free loopback ports, and databases created on a server, for tests and bench/.

Tests that stop or kill a service use these, never the machine's shared instances. Every process is
stopped by the PID we started.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis

from tests.support.ports import free_port
from tests.support.waiting import wait_until


def create_database(url: str, *, replace: bool = False) -> None:
    """Create url's database on its server unless it exists; replace: drop it first (and its connections)."""
    server, name = url.rsplit("/", 1)
    with psycopg.connect(server + "/postgres", autocommit=True) as conn:
        if replace:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _postgres_bin() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").iterdir(), key=lambda p: int(p.name))
    return versions[-1] / "bin"


@dataclass
class PrivatePostgres:
    """A throwaway cluster (initdb) with trust auth; runs as the postgres user when we are root."""

    folder: Path
    port: int

    @classmethod
    def create(cls) -> PrivatePostgres:
        """A new cluster in its own folder under /tmp (pytest's tmp dirs are private to root; postgres is not)."""
        folder = Path(tempfile.mkdtemp(prefix="portico-pg-"))
        folder.chmod(0o755)
        server = cls(folder, free_port())
        server._run(
            [str(_postgres_bin() / "initdb"), "-D", str(server.data), "-A", "trust", "-U", "postgres", "--no-sync"]
        )
        return server

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/portico"

    def _run(self, args: list[str]) -> None:
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            pg = pwd.getpwnam("postgres")
            shutil.chown(self.folder, pg.pw_uid, pg.pw_gid)
            args = ["runuser", "-u", "postgres", "--", *args]
        subprocess.run(args, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run([str(_postgres_bin() / "pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-l",
                   str(self.folder / "server.log"), "start"])  # fmt: skip
        wait_until(self._accepts, 30, 0.1, what="private PostgreSQL up", errors=(Exception,))
        create_database(self.url)

    def _accepts(self) -> bool:
        with psycopg.connect(self.url.rsplit("/", 1)[0] + "/postgres", connect_timeout=1):
            return True

    def stop(self) -> None:
        """A fast shutdown: clients are disconnected, like a database going away under load."""
        if (self.data / "postmaster.pid").exists():
            self._run([str(_postgres_bin() / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop"])
        assert not (self.data / "postmaster.pid").exists(), "private PostgreSQL did not stop"

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class PrivateRedis:
    """redis-server without persistence on a free port; stop() kills it, start() again brings it back empty."""

    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(cls, folder: Path) -> PrivateRedis:
        folder.mkdir(parents=True, exist_ok=True)
        return cls(folder, free_port())

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def address(self) -> str:
        """The same server as the gateway launcher's --redis takes it (HOST:PORT/DB)."""
        return f"127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self._pings, 10, 0.1, what="private Redis up", errors=(Exception,))

    def _pings(self) -> bool:
        return redis.Redis.from_url(self.url, socket_timeout=1).ping()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
