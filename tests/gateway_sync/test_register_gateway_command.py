"""`manage.py register_gateway`: secrets shown once, and with --env-file idempotent for `make run`."""

import stat

import pytest
from django.core.management import CommandError, call_command

from gateway_sync.models import Gateway

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("register_gateway", *args, stdout=out)
    return out.getvalue()


def test_registering_prints_the_launcher_settings_once(db):
    out = _run("--name", "edge-5", "--admin-url", "http://127.0.0.1:8081")
    gateway = Gateway.objects.get(name="edge-5")
    assert f"PORTICO_GATEWAY_CLIENT_ID={gateway.oauth_application.client_id}" in out
    assert "PORTICO_GATEWAY_PUSH_SECRET=" in out and "PORTICO_GATEWAY_CLIENT_SECRET=" in out
    with pytest.raises(CommandError, match="--rotate"):
        _run("--name", "edge-5", "--admin-url", "http://127.0.0.1:8081")


def test_the_env_file_is_private_and_kept_while_its_credentials_are_valid(tmp_path):
    env_file = tmp_path / "edge-1.env"
    args = ("--name", "edge-1", "--admin-url", "http://127.0.0.1:8081", "--env-file", str(env_file))
    _run(*args)
    first = env_file.read_text()
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600 and "PORTICO_GATEWAY_CLIENT_SECRET=" in first

    assert "are current" in _run(
        "--name", "edge-1", "--admin-url", "http://127.0.0.1:8081", "--env-file", str(env_file)
    )
    assert env_file.read_text() == first

    env_file.write_text(first.replace("PORTICO_GATEWAY_PUSH_SECRET=", "PORTICO_GATEWAY_PUSH_SECRET=x"))
    assert "New credentials" in _run(
        "--name", "edge-1", "--admin-url", "http://127.0.0.1:8081", "--env-file", str(env_file)
    )
    assert env_file.read_text() != first and Gateway.objects.count() == 1
