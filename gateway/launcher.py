"""Render the edge gateway's nginx configuration into a runtime directory and run nginx.

Plain Python (no Django) so it can run on a bare gateway host:

    python -m gateway.launcher --name edge-1 --listen 127.0.0.1:8080 --admin 127.0.0.1:8081 \\
        --runtime-dir /var/lib/portico/edge-1 --push-secret S [--snapshot-file F] \\
        [--config-url URL --token-url URL --client-id ID --client-secret S] [--redis HOST:PORT/DB]

nginx replaces this process (exec), so the launcher's PID is the nginx master's.
Secrets go to <runtime>/conf/portico.json (mode 0600), never into nginx.conf.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import re
import secrets
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

GATEWAY_DIR = Path(__file__).resolve().parent
TEMPLATES = GATEWAY_DIR / "templates"
LUA_DIR = GATEWAY_DIR / "lua"
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")  # Debian's ca-certificates
RUNTIME_SUBDIRS = ("conf", "logs", "state", "spool", "tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi")


@dataclass
class GatewayOptions:
    """Everything the launcher needs; field names mirror the CLI options."""

    name: str
    runtime_dir: Path
    push_secret: str
    listen: list[str] = field(default_factory=lambda: ["127.0.0.1:8080"])
    admin: str = "127.0.0.1:8081"
    config_url: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    snapshot_file: Path | None = None
    workers: str = "auto"
    reuseport: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    trusted_proxies: list[str] = field(default_factory=list)
    resolver: str | None = None
    ca_file: Path | None = None
    upstream_ca_file: Path = SYSTEM_CA_BUNDLE
    poll_interval: float = 5.0
    heartbeat_interval: float = 30.0
    log_flush_interval: float = 0.2
    keys_dict_size: str = "128m"
    journal_max_entries: int = 1000
    journal_max_bytes: int = 8 * 1024 * 1024
    limits_dict_size: str = "32m"
    spool_max_bytes: int = 256 * 1024 * 1024
    spool_segment_bytes: int = 8 * 1024 * 1024
    access_log_rotate_bytes: int = 64 * 1024 * 1024
    max_body: str = "64m"
    upstream_keepalive: int = 128
    error_log_level: str = "warn"
    nginx: str = "nginx"
    invalid_key_limit: int = 50
    invalid_key_window: float = 60.0
    token_leeway: int = 30
    redis: str | None = None
    redis_password: str | None = None
    redis_timeout_ms: int = 50
    redis_retry_interval: float = 1.0
    redis_pool_size: int = 64


def parse_redis(value: str) -> tuple[str, int, int]:
    """`host:port/db` (or `redis://host:port/db`, `[v6]:port`) -> (host, port, db)."""
    m = re.fullmatch(r"(?:redis://)?(\[[^\]]+\]|[^:/\[\]]+)(?::(\d+))?(?:/(\d+))?/?", value)
    if not m:
        raise ValueError(f"--redis: expected HOST:PORT/DB, got {value!r}")
    return m.group(1).strip("[]"), int(m.group(2) or 6379), int(m.group(3) or 0)


def render_template(name: str, values: dict[str, str], directory: Path = TEMPLATES) -> str:
    """Fill {{placeholders}} in a template; nginx's own $variables stay untouched."""
    text = (directory / name).read_text()

    def sub(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return re.sub(r"\{\{(\w+)\}\}", sub, text)


def user_directive() -> str:
    """Workers run as the invoking user (nginx only honours `user` when started as root)."""
    if os.geteuid() != 0:
        return ""
    return f"user {pwd.getpwuid(os.geteuid()).pw_name};"


def prepare_runtime(runtime_dir: Path) -> Path:
    """Create the runtime layout and return its absolute path."""
    prefix = runtime_dir.resolve()
    for sub in RUNTIME_SUBDIRS:
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    return prefix


def known_upstreams(opts: GatewayOptions, prefix: Path) -> dict[str, str]:
    """`addr:port` -> upstream block name, for the API upstreams in the snapshots present at start.

    Only IP literals (and `localhost`): anything else is resolved at request time by the balancer.
    """
    found: dict[str, str] = {}
    sources = [prefix / "state" / "snapshot.json"]
    if opts.snapshot_file:
        sources.append(Path(opts.snapshot_file))
    for source in sources:
        try:
            apis = json.loads(source.read_text()).get("apis") or []
        except (OSError, ValueError, AttributeError):
            continue
        for api in apis:
            url = api.get("upstream_url") if isinstance(api, dict) else None
            m = re.match(r"^(https?)://(\[[0-9a-fA-F:.]+\]|[0-9.]+|localhost)(?::(\d+))?(?:/|$)", url or "")
            if not m:
                continue
            host = "127.0.0.1" if m.group(2) == "localhost" else m.group(2)
            port = m.group(3) or ("443" if m.group(1) == "https" else "80")
            addr = f"{host}:{port}"
            if addr not in found and len(found) < 256:
                found[addr] = f"portico_u{len(found)}"
    return found


def _indent(lines: Sequence[str], spaces: int = 8) -> str:
    return "\n".join(f"{' ' * spaces}{line}" for line in lines)


def _seconds_at_most_300(text: str) -> int:
    """--token-leeway: whole seconds from 0 to 300 (more would keep expired tokens alive for long)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {text!r}") from None
    if not 0 <= value <= 300:
        raise argparse.ArgumentTypeError(f"must be from 0 to 300 seconds, not {value}")
    return value


def upstream_tls_directives(ca_file: Path | None, *, verify: bool, client_cert: bool = False) -> list[str]:
    """How the gateway speaks TLS to an https upstream: SNI always; with `verify`, the certificate chain against
    ca_file and the host name of the API's upstream URL (nginx checks neither unless told); with `client_cert`,
    the API's own client certificate and key, from variables the access phase sets (docs/mtls.md)."""
    lines = ["proxy_ssl_server_name on;", "proxy_ssl_name $pt_uhost;", "proxy_ssl_protocols TLSv1.2 TLSv1.3;"]
    if client_cert:
        lines += ["proxy_ssl_certificate data:$pt_ucert;", "proxy_ssl_certificate_key data:$pt_ukey;"]
    if verify and ca_file is not None:
        lines += [
            "proxy_ssl_verify on;",
            f"proxy_ssl_trusted_certificate {Path(ca_file).resolve()};",
            "proxy_ssl_verify_depth 4;",
            "proxy_ssl_session_reuse on;",
        ]
    return lines


def size_bytes(size: str) -> int:
    """An nginx size ("64m", "2k", "1048576") in bytes: Lua enforces the body ceiling for `location /`."""
    match = re.fullmatch(r"(\d+)([kKmMgG]?)", size.strip())
    if not match:
        raise ValueError(f"--max-body: {size!r} is not a size such as 64m, 512k or 1048576")
    return int(match[1]) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[match[2].lower()]


def render(opts: GatewayOptions) -> Path:
    """Write nginx.conf and portico.json under the runtime dir; return the nginx.conf path."""
    if bool(opts.tls_cert) != bool(opts.tls_key):
        raise ValueError("--tls-cert and --tls-key go together")
    if opts.config_url and not (opts.token_url and opts.client_id and opts.client_secret):
        raise ValueError("--config-url needs --token-url, --client-id and --client-secret")
    redis = parse_redis(opts.redis) if opts.redis else None
    prefix = prepare_runtime(opts.runtime_dir)
    static = known_upstreams(opts, prefix)
    settings = {
        "name": opts.name,
        "prefix": str(prefix),
        "state_dir": str(prefix / "state"),
        "spool_dir": str(prefix / "spool"),
        "config_url": opts.config_url,
        "token_url": opts.token_url,
        "client_id": opts.client_id,
        "client_secret": opts.client_secret,
        "snapshot_file": str(Path(opts.snapshot_file).resolve()) if opts.snapshot_file else None,
        "push_secret": opts.push_secret,
        "poll_interval": opts.poll_interval,
        "heartbeat_interval": opts.heartbeat_interval,
        "log_flush_interval": opts.log_flush_interval,
        "spool_max_bytes": opts.spool_max_bytes,
        "spool_segment_bytes": opts.spool_segment_bytes,
        "access_log_rotate_bytes": opts.access_log_rotate_bytes,
        "journal_max_entries": opts.journal_max_entries,
        "journal_max_bytes": opts.journal_max_bytes,
        "fetch_timeout_ms": 60000,
        "static_upstreams": static,
        "invalid_key_limit": opts.invalid_key_limit,
        "max_body_bytes": size_bytes(opts.max_body),
        "invalid_key_window": opts.invalid_key_window,
        "token_leeway": opts.token_leeway,
        "redis": {
            "host": redis[0],
            "port": redis[1],
            "db": redis[2],
            "password": opts.redis_password,
            "timeout_ms": opts.redis_timeout_ms,
            "retry_interval": opts.redis_retry_interval,
            "pool_size": opts.redis_pool_size,
        }
        if redis
        else None,
    }
    settings_file = prefix / "conf" / "portico.json"
    fd = os.open(settings_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(settings, f, indent=2)

    ssl = " ssl" if opts.tls_cert else ""
    # SO_REUSEPORT gives each worker its own accept queue, so a burst of new connections spreads over all
    # workers instead of piling onto whichever woke first (Kong listens this way by default).
    reuse = " reuseport" if opts.reuseport else ""
    listen = [f"listen {addr}{ssl}{reuse};" for addr in opts.listen]
    tls: list[str] = []
    if opts.tls_cert and opts.tls_key:
        tls = [
            f"ssl_certificate {Path(opts.tls_cert).resolve()};",
            f"ssl_certificate_key {Path(opts.tls_key).resolve()};",
            "ssl_protocols TLSv1.2 TLSv1.3;",
            "ssl_session_cache shared:portico_tls:10m;",
            # ask every client for a certificate, judge none here: APIs requiring mTLS check the pinned
            # fingerprints in Lua (portico.mtls, docs/mtls.md); a client without one connects as before
            "ssl_verify_client optional_no_ca;",
            'add_header Strict-Transport-Security "max-age=31536000" always;',
        ]
    # add_header in a location hides the server's, so HSTS is repeated there
    hsts = '            add_header Strict-Transport-Security "max-age=31536000" always;' if opts.tls_cert else ""
    real_ip = [f"    set_real_ip_from {cidr};" for cidr in opts.trusted_proxies]
    if real_ip:
        real_ip += ["    real_ip_header X-Forwarded-For;", "    real_ip_recursive on;"]
    values = {
        "user": user_directive(),
        "workers": str(opts.workers),
        "prefix": str(prefix),
        "error_log_level": opts.error_log_level,
        "max_body": opts.max_body,
        "lua_dir": str(LUA_DIR),
        "lua_ssl_trusted_certificate": f"    lua_ssl_trusted_certificate {Path(opts.ca_file).resolve()};"
        if opts.ca_file
        else "",
        "limits_dict_size": opts.limits_dict_size,
        "keys_dict_size": opts.keys_dict_size,
        "resolver": f"    resolver {opts.resolver};" if opts.resolver else "",
        "real_ip": "\n".join(real_ip),
        "settings_file": str(settings_file),
        "upstream_keepalive": str(opts.upstream_keepalive),
        # request ids are <this>-<pid>-<connection>-<n>: unique across restarts and reloads
        "rid_prefix": secrets.token_hex(4) + "-",
        "listen": _indent(listen),
        "tls": _indent(tls),
        "admin": opts.admin,
        "hsts": hsts,
        "log_flush": f"{max(1, int(opts.log_flush_interval * 1000))}ms",
    }
    if not Path(opts.upstream_ca_file).is_file():
        raise SystemExit(
            f"--upstream-ca-file {opts.upstream_ca_file}: no such file (install ca-certificates, or name one)"
        )
    # the proxy directives, once per upstream scheme and certificate policy (see location @portico_https)
    for name, scheme, ssl in (
        ("http", "http", ""),
        ("https", "https", _indent(upstream_tls_directives(opts.upstream_ca_file, verify=True), 12)),
        ("https_unverified", "https", _indent(upstream_tls_directives(None, verify=False), 12)),
        (
            "https_client",
            "https",
            _indent(upstream_tls_directives(opts.upstream_ca_file, verify=True, client_cert=True), 12),
        ),
        (
            "https_client_unverified",
            "https",
            _indent(upstream_tls_directives(None, verify=False, client_cert=True), 12),
        ),
    ):
        text = render_template(
            "proxy.conf.tmpl",
            {"hsts": hsts, "scheme": scheme, "ssl": ssl, "client_scheme": "https" if opts.tls_cert else "http"},
        )
        values[f"proxy_{name}"] = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    values["static_upstreams"] = "\n".join(
        f"    upstream {name} {{ server {addr}; keepalive {opts.upstream_keepalive}; keepalive_requests 10000; }}"
        for addr, name in static.items()
    )
    conf = prefix / "conf" / "nginx.conf"
    conf.write_text(render_template("gateway.conf.tmpl", values))
    return conf


def exec_nginx(nginx: str, prefix: Path, conf: Path) -> None:
    """Replace this process with nginx in the foreground (daemon off in the config)."""
    binary = shutil.which(nginx) or nginx
    os.execv(binary, [binary, "-p", f"{prefix}/", "-c", str(conf), "-e", str(prefix / "logs" / "error.log")])


def build_parser() -> argparse.ArgumentParser:
    """CLI shared with the `rungateway` management command."""
    p = argparse.ArgumentParser(prog="python -m gateway.launcher", description="Run a Portico edge gateway.")
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Register the gateway options on a parser (argparse or Django's CommandParser)."""
    env = os.environ.get
    p.add_argument("--name", required=True, help="gateway name, as registered on the platform")
    p.add_argument("--listen", action="append", help="proxy address (repeatable), default 127.0.0.1:8080")
    p.add_argument("--admin", default="127.0.0.1:8081", help="admin address (keep it on loopback)")
    p.add_argument("--runtime-dir", required=True, type=Path)
    p.add_argument("--config-url", default=env("PORTICO_GATEWAY_CONFIG_URL"))
    p.add_argument("--token-url", default=env("PORTICO_GATEWAY_TOKEN_URL"))
    p.add_argument("--client-id", default=env("PORTICO_GATEWAY_CLIENT_ID"))
    p.add_argument("--client-secret", default=env("PORTICO_GATEWAY_CLIENT_SECRET"))
    p.add_argument("--snapshot-file", type=Path, help="static snapshot, read at start and on reload")
    p.add_argument("--push-secret", default=env("PORTICO_GATEWAY_PUSH_SECRET"), help="HMAC key for admin requests")
    p.add_argument("--workers", default="auto")
    p.add_argument(
        "--reuseport",
        action="store_true",
        default=None,
        help="one accept queue per worker (SO_REUSEPORT): spreads connection bursts over workers",
    )
    p.add_argument("--tls-cert", type=Path)
    p.add_argument("--tls-key", type=Path)
    p.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        dest="trusted_proxies",
        help="CIDR whose X-Forwarded-For is trusted (repeatable)",
    )
    p.add_argument("--resolver", help="DNS resolver for platform hostnames")
    p.add_argument("--ca-file", type=Path, help="CA bundle to verify the platform's TLS certificate")
    p.add_argument(
        "--upstream-ca-file",
        type=Path,
        default=SYSTEM_CA_BUNDLE,
        help="CA bundle https upstreams' certificates are verified against (default: the system's); an API can "
        "turn the check off for itself (upstream_tls_verify)",
    )
    p.add_argument("--poll-interval", type=float, default=5.0, help="seconds between delta pulls")
    p.add_argument("--heartbeat-interval", type=float, default=30.0)
    p.add_argument("--log-flush-interval", type=float, default=0.2, help="seconds; bounds log loss on a crash")
    p.add_argument(
        "--keys-dict-size",
        default="128m",
        help="per key slot (two slots): ~128 bytes per key; keys beyond it are counted as not held (an alarm)",
    )
    p.add_argument(
        "--journal-max-entries",
        type=int,
        default=1000,
        help="deltas journaled before the gateway persists a fresh snapshot and empties the journal",
    )
    p.add_argument("--journal-max-bytes", type=int, default=8 * 1024 * 1024, help="the same threshold in bytes")
    p.add_argument("--limits-dict-size", default="32m")
    p.add_argument("--spool-max-bytes", type=int, default=256 * 1024 * 1024)
    p.add_argument("--spool-segment-bytes", type=int, default=8 * 1024 * 1024)
    p.add_argument(
        "--access-log-rotate-bytes",
        type=int,
        default=64 * 1024 * 1024,
        help="nginx's raw access.log is rotated (after ingestion) past this size",
    )
    p.add_argument("--max-body", default="64m", help="hard body ceiling; per-API limits are enforced below it")
    p.add_argument("--upstream-keepalive", type=int, default=128)
    p.add_argument("--error-log-level", default="warn")
    p.add_argument("--nginx", default="nginx", help="nginx binary")
    p.add_argument(
        "--invalid-key-limit",
        type=int,
        default=50,
        help="invalid-key 401s per client address within --invalid-key-window before it gets 429s (0: off)",
    )
    p.add_argument("--invalid-key-window", type=float, default=60.0, help="seconds")
    p.add_argument(
        "--token-leeway",
        type=_seconds_at_most_300,
        default=30,
        help="seconds of clock difference tolerated on an access token's exp and nbf (docs/oauth.md)",
    )
    p.add_argument(
        "--redis",
        default=env("PORTICO_GATEWAY_REDIS"),
        help="HOST:PORT/DB of the Redis shared by all gateways for rate limits (default: per-gateway limits)",
    )
    # the Redis password only from the environment: a command line is visible to every local user
    p.set_defaults(redis_password=env("PORTICO_GATEWAY_REDIS_PASSWORD"))
    p.add_argument("--redis-timeout-ms", type=int, default=50, help="connect/send/read timeout per Redis call")
    p.add_argument(
        "--redis-retry-interval",
        type=float,
        default=1.0,
        help="seconds a worker skips Redis after a failure (circuit breaker)",
    )
    p.add_argument("--redis-pool-size", type=int, default=64, help="idle Redis connections kept per worker")
    p.add_argument("--render-only", action="store_true", help="write the config and exit")


def options_from_args(ns: argparse.Namespace | dict[str, object]) -> GatewayOptions:
    """Translate parsed CLI options into GatewayOptions."""
    d = vars(ns) if isinstance(ns, argparse.Namespace) else dict(ns)
    if not d.get("push_secret"):
        raise ValueError("--push-secret (or PORTICO_GATEWAY_PUSH_SECRET) is required")
    names = set(GatewayOptions.__dataclass_fields__)
    kwargs = {k: v for k, v in d.items() if k in names and v is not None}
    if not kwargs.get("listen"):
        kwargs.pop("listen", None)
    return GatewayOptions(**kwargs)  # type: ignore[arg-type]


def run(opts: GatewayOptions, render_only: bool = False) -> Path:
    """Render and (unless render_only) exec nginx; returns the config path when rendering only."""
    conf = render(opts)
    if not render_only:
        exec_nginx(opts.nginx, opts.runtime_dir.resolve(), conf)
    return conf


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point."""
    parser = build_parser()
    ns = parser.parse_args(argv)
    try:
        opts = options_from_args(ns)
        conf = run(opts, render_only=ns.render_only)
    except ValueError as exc:
        parser.error(str(exc))
    print(conf)
    return 0


if __name__ == "__main__":
    sys.exit(main())
