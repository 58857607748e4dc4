"""Production settings pass Django's deployment checklist, and refuse to start without a real secret."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PORTICO_", "DATABASE_URL"))}
    base.update({"DJANGO_SETTINGS_MODULE": "config.settings", "PORTICO_VAR_DIR": "/tmp/portico-deploy-check"}, **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_under_production_settings() -> None:
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        DJANGO_ALLOWED_HOSTS="portico.example.com",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/portico",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_refuse_a_missing_secret_key() -> None:
    result = _manage("check")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_seed_demo_has_no_default_admin_password_in_production() -> None:
    result = _manage(
        "seed_demo",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        DATABASE_URL="sqlite:////tmp/portico-deploy-check/never-created.sqlite3",
    )
    assert result.returncode != 0
    assert "--admin-password" in result.stderr


CLIENT_ADDRESS = """
from django.test import RequestFactory
from allauth.account.adapter import get_adapter
request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.7", REMOTE_ADDR="127.0.0.1")
print(get_adapter(request).get_client_ip(request))
"""


def test_behind_the_tls_front_login_limits_count_per_forwarded_client_address() -> None:
    production = {"DJANGO_SECRET_KEY": secrets.token_urlsafe(64), "DATABASE_URL": "sqlite:///:memory:"}
    behind = _manage("shell", "--no-imports", "-c", CLIENT_ADDRESS, PORTICO_BEHIND_PROXY="1", **production)
    assert behind.returncode == 0, behind.stderr
    # The front appends the address it saw; a spoofed entry before it is ignored.
    assert behind.stdout.strip() == "198.51.100.7"
    direct = _manage("shell", "--no-imports", "-c", CLIENT_ADDRESS, **production)
    assert direct.stdout.strip() == "127.0.0.1"  # no proxy: X-Forwarded-For is not trusted
