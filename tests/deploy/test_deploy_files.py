"""What an operator copies from deploy/ holds together: every command a unit or the compose file runs exists and
accepts its options, every variable the example environment files set is one the code reads.

Docker and systemd are not available where the suite runs, so the compose file and the units are checked as files
(parsed, their commands resolved against this repository); tests/deploy/test_production_stack.py runs the same
commands (gunicorn with deploy/gunicorn.conf.py, the nginx front, register_gateway, the launcher) for real.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import get_commands

from gateway import launcher
from tests.support.processes import REPO

DEPLOY = REPO / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
# Packages the gateway's nginx needs (scripts/ensure-system.sh installs them on a host).
GATEWAY_PACKAGES = {"nginx-light", "libnginx-mod-http-lua", "libnginx-mod-http-ndk", "lua-resty-core",
                    "lua-resty-lrucache", "lua-cjson"}  # fmt: skip


def unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as {section: {key: [values]}} (keys such as ExecStart may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if section := re.fullmatch(r"\[(\w+)\]", line):
            current = sections.setdefault(section.group(1), {})
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not a key=value line: {line!r}"
        current.setdefault(key, []).append(value)
    return sections


def check_command(argv: list[str], where: str) -> None:
    """argv is something the repository can run, with options its program accepts."""
    program = Path(argv[0]).name
    if program in ("python", "python3") and argv[1] == "manage.py":
        assert argv[2] in get_commands(), f"{where}: no management command {argv[2]!r}"
    elif program in ("python", "python3") and argv[1:3] == ["-m", "gateway.launcher"]:
        parsed = launcher.build_parser().parse_args(argv[3:])
        assert parsed.name and parsed.runtime_dir, where
    elif program in ("python", "python3") and argv[1:3] == ["-m", "gateway.demo_upstream"]:
        assert "--listen" in argv and "--runtime-dir" in argv, where
    elif program == "gunicorn":
        config = argv[argv.index("-c") + 1]
        assert (REPO / config).is_file(), f"{where}: no {config}"
        assert argv[-1] == "config.wsgi", where
    elif program == "celery":
        assert argv[1:3] == ["-A", "config"] and argv[3] in ("worker", "beat"), where
    elif program != "python":  # a health check's `python -c`
        raise AssertionError(f"{where}: unexpected program {argv[0]!r}")


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_each_systemd_unit_runs_a_real_command_as_portico_with_settings_from_etc_portico(path: Path) -> None:
    sections = unit(path)
    service = sections["Service"]
    assert service["User"] == ["portico"] and service["WorkingDirectory"] == ["/opt/portico"]
    assert service["EnvironmentFile"][0].startswith("/etc/portico/")
    assert service["ProtectSystem"] == ["strict"] and service["NoNewPrivileges"] == ["yes"]
    defaults = dict(pair.split("=", 1) for line in service.get("Environment", []) for pair in line.split())
    for exec_start in service["ExecStart"]:
        expanded = re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], exec_start).replace("%i", "edge-1")
        check_command(shlex.split(expanded.replace("%H", "host")), path.name)
    if path.name != "portico-migrate.service":  # a oneshot started by hand at each upgrade
        assert sections["Install"]["WantedBy"] == ["multi-user.target"]


def test_the_units_cover_every_part_with_beat_not_a_template() -> None:
    names = {path.name for path in UNITS}
    expected = {"portico-portal.service", "portico-worker@.service", "portico-beat.service",
                "portico-gateway@.service", "portico-migrate.service"}  # fmt: skip
    assert names == expected


def _variables(path: Path) -> set[str]:
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", path.read_text(), re.M))


def test_the_example_environment_files_set_only_variables_the_code_reads() -> None:
    settings = (REPO / "config" / "settings.py").read_text()
    platform = _variables(DEPLOY / "env" / "portico.env.example")
    assert {"DJANGO_SECRET_KEY", "PORTICO_SECRETS_KEY", "DATABASE_URL", "REDIS_URL", "PORTICO_BEHIND_PROXY"} <= platform
    assert {name for name in platform if f'"{name}"' not in settings} == set()

    gateway_file = _variables(DEPLOY / "env" / "gateway.env.example")
    read = "".join(
        path.read_text() for path in (REPO / "gateway" / "launcher.py", DEPLOY / "systemd" / "portico-gateway@.service")
    )
    assert {name for name in gateway_file if name not in read} == set()
    written = (REPO / "gateway_sync" / "management" / "commands" / "register_gateway.py").read_text()
    assert set(re.findall(r'"(PORTICO_GATEWAY_\w+)"', written)) <= gateway_file


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def commands(command: list[str] | None) -> list[list[str]]:
    """The programs a compose command runs: itself, or those a `sh -c` joins with && (the last one exec'd)."""
    if not command:
        return []
    if command[:2] != ["sh", "-c"]:
        return [command]
    parts = [shlex.split(part.strip()) for part in command[2].split("&&")]
    return [part[1:] if part[0] == "exec" else part for part in parts if part[0] not in ("set", ".")]


def test_the_compose_file_runs_every_part_from_this_repository() -> None:
    services = compose()["services"]
    parts = {"postgres", "redis", "portal", "worker", "beat", "gateway", "upstream"}
    assert parts <= set(services), parts - set(services)
    for name, service in services.items():
        for needed in service.get("depends_on", {}):
            assert needed in services, f"{name} depends on unknown {needed}"
        if "build" in service:
            assert (DEPLOY / service["build"]["context"]).resolve() == REPO
            assert (REPO / service["build"]["dockerfile"]).is_file()
        for argv in commands(service.get("command")) if name not in ("postgres", "redis") else []:
            check_command(argv, f"compose {name}")
        check = service.get("healthcheck", {}).get("test", [])
        if check[1:3] == ["python", "-c"]:
            compile(check[3], f"compose {name} healthcheck", "exec")


def test_the_compose_file_keeps_secrets_required_and_away_from_the_gateway() -> None:
    services = compose()["services"]
    portal = services["portal"]["environment"]
    for name in ("DJANGO_SECRET_KEY", "PORTICO_SECRETS_KEY"):
        assert ":?" in portal[name], f"{name} must be required (no default secret)"
    assert services["gateway"]["environment"] == {}  # its credentials come from register-gateway's file only
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1
    # Upstream names come from the gateway's /etc/hosts (no resolver in its data path): the address must agree.
    address = services["upstream"]["networks"]["portico"]["ipv4_address"]
    assert services["gateway"]["extra_hosts"] == [f"upstream:{address}"]
    for port in [port for service in services.values() for port in service.get("ports", [])]:
        assert port.startswith("127.0.0.1:"), f"{port}: published beyond loopback without TLS"


def test_the_image_installs_the_gateways_nginx_as_the_host_script_does() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    host_script = (REPO / "scripts" / "ensure-system.sh").read_text()
    installed = set(re.findall(r"\b(?:nginx-light|libnginx-mod-[\w-]+|lua-[\w-]+)\b", dockerfile))
    assert installed == GATEWAY_PACKAGES
    assert all(package in host_script for package in GATEWAY_PACKAGES)
    assert "USER portico" in dockerfile and "collectstatic" in dockerfile
