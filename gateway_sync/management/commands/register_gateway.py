"""Register an edge gateway (or re-issue its credentials) and print, once, what it needs to start."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from foundation.errors import ApplicationError
from gateway_sync import selectors, services
from gateway_sync.models import Gateway


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            parsed = shlex.split(value)
            values[name.strip()] = parsed[0] if parsed else ""
    return values


class Command(BaseCommand):
    help = (
        "Register a gateway as an OAuth2 client and print its launcher settings once. With --env-file the settings "
        "go to that file (mode 0600) instead, and re-running keeps valid credentials (idempotent, for `make run`)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--admin-url", required=True, help="the gateway's admin listener, e.g. http://127.0.0.1:8081"
        )
        parser.add_argument("--platform-url", default=settings.PORTICO_SITE_URL, help="where gateways reach the portal")
        parser.add_argument("--env-file", type=Path, help="write PORTICO_GATEWAY_* variables here instead of printing")
        parser.add_argument("--rotate", action="store_true", help="issue new credentials for an existing gateway")

    def handle(self, *args: Any, **options: Any) -> None:
        name, admin_url, env_file = options["name"], options["admin_url"].rstrip("/"), options["env_file"]
        try:
            gateway = Gateway.objects.select_related("oauth_application").filter(name=name).first()
            if gateway is None:
                gateway, client_id, client_secret, push_secret = services.gateway_register(
                    name=name, admin_url=admin_url
                )
                credentials = services.GatewayCredentials(client_id, client_secret, push_secret)
                summary = f"Registered gateway {name}"
            else:
                if gateway.admin_url != admin_url:
                    services.gateway_update(gateway=gateway, admin_url=admin_url)
                if env_file and not options["rotate"] and self._env_file_still_valid(gateway, env_file):
                    self.stdout.write(f"Gateway {name} already registered; credentials in {env_file} are current.")
                    return
                if not env_file and not options["rotate"]:
                    raise CommandError(f"Gateway {name} is already registered; pass --rotate for new credentials.")
                credentials = services.gateway_rotate_credentials(gateway=gateway)
                summary = f"New credentials for gateway {name}"
        except ApplicationError as error:
            raise CommandError(error.message) from error
        base = options["platform_url"].rstrip("/")
        variables = {
            "PORTICO_GATEWAY_CONFIG_URL": f"{base}/gateway/v1/config",
            "PORTICO_GATEWAY_TOKEN_URL": f"{base}/o/token/",
            "PORTICO_GATEWAY_CLIENT_ID": credentials.client_id,
            "PORTICO_GATEWAY_CLIENT_SECRET": credentials.client_secret,
            "PORTICO_GATEWAY_PUSH_SECRET": credentials.push_secret,
        }
        if env_file:
            self._write_env_file(env_file, variables)
            self.stdout.write(f"{summary}; launcher settings written to {env_file} (mode 0600).")
            return
        self.stdout.write(f"{summary}. These secrets are shown once:")
        for key, value in variables.items():
            self.stdout.write(f"  {key}={shlex.quote(value)}")
        self.stdout.write(
            f"Start it with those in the environment:\n  python -m gateway.launcher --name {name} "
            f"--runtime-dir /var/lib/portico/{name}"
        )

    def _env_file_still_valid(self, gateway: Gateway, path: Path) -> bool:
        if not path.exists():
            return False
        values = _read_env_file(path)
        return selectors.gateway_credentials_match(
            gateway=gateway,
            client_id=values.get("PORTICO_GATEWAY_CLIENT_ID", ""),
            client_secret=values.get("PORTICO_GATEWAY_CLIENT_SECRET", ""),
            push_secret=values.get("PORTICO_GATEWAY_PUSH_SECRET", ""),
        )

    def _write_env_file(self, path: Path, variables: dict[str, str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("# Written by manage.py register_gateway: this gateway's secrets. Keep it private.\n")
            handle.writelines(f"{key}={shlex.quote(value)}\n" for key, value in variables.items())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
