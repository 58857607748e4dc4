"""Launcher: rendering the runtime directory (no nginx started)."""

from __future__ import annotations

import json
import stat

import pytest
from django.core.management import call_command

from gateway import launcher


def render(tmp_path, *extra: str) -> str:
    ns = launcher.build_parser().parse_args(
        ["--name", "edge-9", "--runtime-dir", str(tmp_path / "rt"), "--push-secret", "very-secret", *extra]
    )
    return launcher.run(launcher.options_from_args(ns), render_only=True).read_text()


def test_rendered_config_binds_admin_to_loopback_and_keeps_secrets_out(tmp_path):
    conf = render(tmp_path, "--client-secret", "oauth-secret")

    settings_file = tmp_path / "rt" / "conf" / "portico.json"
    assert "listen 127.0.0.1:8081;" in conf
    assert "listen 127.0.0.1:8080;" in conf
    assert "very-secret" not in conf and "oauth-secret" not in conf
    assert json.loads(settings_file.read_text())["push_secret"] == "very-secret"
    assert stat.S_IMODE(settings_file.stat().st_mode) == 0o600
    assert "server_tokens off;" in conf
    assert "{{" not in conf


def test_every_temp_path_pid_and_log_live_under_the_runtime_dir(tmp_path):
    conf = render(tmp_path)

    root = str((tmp_path / "rt").resolve())
    for directive in (
        "pid",
        "error_log",
        "client_body_temp_path",
        "proxy_temp_path",
        "fastcgi_temp_path",
        "uwsgi_temp_path",
        "scgi_temp_path",
    ):
        line = next(line for line in conf.splitlines() if line.strip().startswith(directive + " "))
        assert root in line


def test_tls_listeners_and_trusted_proxies_are_rendered(tmp_path):
    conf = render(
        tmp_path,
        "--tls-cert",
        "/c.pem",
        "--tls-key",
        "/k.pem",
        "--trusted-proxy",
        "10.0.0.0/8",
        "--listen",
        "[::1]:8443",
    )

    assert "listen [::1]:8443 ssl;" in conf
    assert "ssl_certificate /c.pem;" in conf
    assert "set_real_ip_from 10.0.0.0/8;" in conf


def test_certificate_without_key_is_refused(tmp_path):
    with pytest.raises(ValueError, match="tls"):
        render(tmp_path, "--tls-cert", "/c.pem")


@pytest.mark.parametrize(("size", "expected"), [("64m", 64 << 20), ("2k", 2048), ("1048576", 1048576), ("1G", 1 << 30)])
def test_the_body_ceiling_reaches_the_lua_settings_in_bytes(tmp_path, size, expected):
    render(tmp_path, "--max-body", size)

    assert json.loads((tmp_path / "rt" / "conf" / "portico.json").read_text())["max_body_bytes"] == expected


def test_a_body_ceiling_that_is_not_a_size_is_refused(tmp_path):
    with pytest.raises(ValueError, match="max-body"):
        render(tmp_path, "--max-body", "64 megabytes")


def test_platform_url_without_client_credentials_is_refused(tmp_path):
    with pytest.raises(ValueError, match="client"):
        render(tmp_path, "--config-url", "http://cp/gateway/v1/config")


def test_rungateway_command_takes_the_launcher_options(tmp_path, capsys):
    call_command(
        "rungateway", "--name", "edge-3", "--runtime-dir", str(tmp_path / "rt"), "--push-secret", "s", "--render-only"
    )

    assert "edge-3" in capsys.readouterr().out
    assert (tmp_path / "rt" / "conf" / "nginx.conf").exists()


def test_redis_option_goes_to_the_settings_with_the_password_from_the_environment_only(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTICO_GATEWAY_REDIS_PASSWORD", "redis-secret")
    conf = render(tmp_path, "--redis", "10.0.0.5:6380/2", "--redis-timeout-ms", "30", "--invalid-key-limit", "7")

    settings = json.loads((tmp_path / "rt" / "conf" / "portico.json").read_text())
    assert settings["redis"] == {
        "host": "10.0.0.5",
        "port": 6380,
        "db": 2,
        "password": "redis-secret",
        "timeout_ms": 30,
        "retry_interval": 1.0,
        "pool_size": 64,
    }
    assert settings["invalid_key_limit"] == 7
    assert "redis-secret" not in conf
    with pytest.raises(SystemExit):
        launcher.build_parser().parse_args(["--name", "x", "--runtime-dir", "rt", "--redis-password", "p"])


def test_without_redis_limits_stay_local(tmp_path):
    render(tmp_path)

    assert json.loads((tmp_path / "rt" / "conf" / "portico.json").read_text())["redis"] is None


@pytest.mark.parametrize("value", ["redis://:6379", "host:port", "a:1/x"])
def test_malformed_redis_address_is_refused(tmp_path, value):
    with pytest.raises(ValueError, match="--redis"):
        render(tmp_path, "--redis", value)


def test_reuseport_is_rendered_on_proxy_listeners_only_when_asked(tmp_path):
    assert " reuseport;" not in render(tmp_path)
    conf = render(tmp_path, "--reuseport", "--listen", "127.0.0.1:8080", "--listen", "[::1]:8080")
    assert "listen 127.0.0.1:8080 reuseport;" in conf and "listen [::1]:8080 reuseport;" in conf
    assert "listen 127.0.0.1:8081;" in conf  # the admin listener stays a single socket


@pytest.mark.parametrize("leeway", ["-1", "301", "ten"])
def test_a_token_leeway_outside_0_to_300_seconds_is_refused(tmp_path, leeway):
    with pytest.raises(SystemExit):
        render(tmp_path, "--token-leeway", leeway)


def test_the_token_leeway_and_the_upstream_ca_reach_the_config(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("placeholder: nginx is not started\n")

    conf = render(tmp_path, "--token-leeway", "12", "--upstream-ca-file", str(ca))

    assert json.loads((tmp_path / "rt" / "conf" / "portico.json").read_text())["token_leeway"] == 12
    assert f"proxy_ssl_trusted_certificate {ca.resolve()};" in conf
    # @portico_https, @portico_https_client (docs/mtls.md), their query-key twins and the redaction one
    # (docs/redaction.md), not the unverified ones
    assert conf.count("proxy_ssl_verify on;") == 5


def test_a_missing_upstream_ca_bundle_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="upstream-ca-file"):
        render(tmp_path, "--upstream-ca-file", str(tmp_path / "nowhere.pem"))
