"""Routing: path prefix (and host) to each API's upstream; errors as problem+json."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.support.ports import free_port
from tests.support.snapshots import api_entry, change, key_entry, snapshot, subscription_entry


def self_signed_localhost_cert(folder: Path, with_san: bool = False) -> tuple[Path, Path]:
    """A one-day self-signed EC certificate for `localhost` and its key, written as PEM files into folder."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    pk = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(pk.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if with_san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    cert, key = folder / "cert.pem", folder / "key.pem"
    cert.write_bytes(builder.sign(pk, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        pk.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert, key


def test_request_is_forwarded_with_method_path_query_host_and_body(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[key]))

    r = gw.request(
        "POST", "/demo/orders/42?expand=items", key.secret, json={"qty": 3}, headers={"Host": "api.example.test"}
    )

    assert r.status_code == 200
    echo = r.json()
    assert echo["method"] == "POST"
    assert echo["path"] == "/orders/42"
    assert echo["query"] == "expand=items"
    assert echo["headers"]["host"] == "api.example.test"
    assert echo["json"] == {"qty": 3}


def test_prefix_is_kept_when_the_api_does_not_strip_it(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream, strip_prefix=False)], keys=[key]))

    assert gw.get("/demo/x", key.secret).json()["path"] == "/demo/x"


def test_upstream_base_path_is_prepended(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream + "/v2/")], keys=[key]))

    assert gw.get("/demo/items", key.secret).json()["path"] == "/v2/items"


def test_longest_prefix_wins_and_prefix_matches_whole_segments(start_gateway, upstream):
    key = key_entry()
    apis = [api_entry(upstream, 1, "/demo"), api_entry(upstream + "/inner", 2, "/demo/inner")]
    subs = [subscription_entry(7, api_id=1), subscription_entry(8, api_id=2)]
    gw = start_gateway(snapshot(1, apis, subscriptions=subs, keys=[key]))

    assert gw.get("/demo/inner/a", key.secret).json()["path"] == "/inner/a"
    assert gw.get("/demo/other", key.secret).json()["path"] == "/other"
    assert gw.get("/demonstration", key.secret).status_code == 404


def test_host_bound_api_only_answers_for_its_host(start_gateway, upstream):
    key = key_entry()
    apis = [api_entry(upstream + "/a", 1, "/x", host="a.example.test"), api_entry(upstream + "/b", 2, "/x")]
    subs = [subscription_entry(7, api_id=1), subscription_entry(8, api_id=2)]
    gw = start_gateway(snapshot(1, apis, subscriptions=subs, keys=[key]))

    assert gw.get("/x/1", key.secret, headers={"Host": "a.example.test"}).json()["path"] == "/a/1"
    assert gw.get("/x/1", key.secret, headers={"Host": "b.example.test"}).json()["path"] == "/b/1"


def test_unknown_path_is_a_problem_json_404(start_gateway, upstream):
    gw = start_gateway(snapshot(1, [api_entry(upstream)]))

    r = gw.get("/nothing-here")

    assert r.status_code == 404
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.json()["type"].endswith("/no-route")


def test_unreachable_upstream_is_a_problem_json_502(start_gateway):
    key = key_entry()
    dead = f"http://127.0.0.1:{free_port()}"
    gw = start_gateway(snapshot(1, [api_entry(dead)], keys=[key]))

    r = gw.get("/demo/x", key.secret)

    assert r.status_code == 502
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.json()["type"].endswith("/bad-gateway")


def test_slow_upstream_times_out_per_api_with_a_problem_json_504(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream, read_timeout_ms=300)], keys=[key]))

    r = gw.get("/demo/slow", key.secret, headers={"X-Demo-Delay-Ms": "2000"})

    assert r.status_code == 504
    assert r.json()["type"].endswith("/gateway-timeout")
    assert r.elapsed.total_seconds() < 1.5


def test_upstream_errors_are_passed_through_untouched(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[key]))

    r = gw.get("/demo/x", key.secret, headers={"X-Demo-Status": "502"})

    assert r.status_code == 502
    assert r.headers["Content-Type"] == "application/json"


def test_upstream_connections_are_kept_alive(start_gateway, upstream):
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[key]))

    ports = {gw.get("/demo/x", key.secret).json()["headers"].get("x-forwarded-for") for _ in range(5)}
    # the echo upstream cannot see the gateway's source port, so ask the kernel instead:
    # with keepalive, repeated requests reuse one established connection to the upstream
    up_port = int(upstream.rsplit(":", 1)[1])
    with open("/proc/net/tcp") as f:
        established = [line for line in f if f":{up_port:04X} " in line.split()[2] + " " and line.split()[3] == "01"]
    assert ports == {"127.0.0.1"}
    assert 1 <= len(established) <= 2


def test_responses_carry_security_headers_and_no_version(start_gateway, upstream):
    gw = start_gateway(snapshot(1, [api_entry(upstream)]))

    r = gw.get("/demo/x")

    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Server"] == "nginx"


def test_tls_is_terminated_with_the_configured_certificate(start_gateway, upstream, tmp_path):
    import requests

    cert, private_key = self_signed_localhost_cert(tmp_path, with_san=True)
    key = key_entry()
    gw = start_gateway(
        snapshot(1, [api_entry(upstream)], keys=[key]),
        extra=["--tls-cert", str(cert), "--tls-key", str(private_key)],
    )

    r = requests.get(
        f"https://localhost:{gw.port}/demo/x",
        headers={"X-API-Key": key.secret},
        verify=str(cert),
        timeout=5,
    )

    assert r.status_code == 200
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    with socket.create_connection(("127.0.0.1", gw.port)) as s:
        s.sendall(b"GET /demo/x HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"HTTP/1.1 200" not in s.recv(200)


def test_https_upstream_is_reached_over_tls(start_gateway, upstream, tmp_path):
    cert, private_key = self_signed_localhost_cert(tmp_path)
    # the https upstream is a TLS-terminating gateway that takes its key from the query string,
    # which the outer gateway forwards untouched
    inner_key, outer_key = key_entry(), key_entry()
    inner = start_gateway(
        snapshot(1, [api_entry(upstream, allow_query_key=True)], keys=[inner_key]),
        extra=["--tls-cert", str(cert), "--tls-key", str(private_key)],
        name="inner",
    )
    outer = start_gateway(
        snapshot(1, [api_entry(f"https://localhost:{inner.port}/demo", path_prefix="/front")], keys=[outer_key]),
        name="outer",
        extra=["--upstream-ca-file", str(cert)],  # the self-signed certificate is its own trust anchor
    )

    r = outer.get(f"/front/items?api_key={inner_key.secret}", outer_key.secret)

    assert r.status_code == 200, r.text
    assert r.json()["path"] == "/items"
    assert r.json()["headers"]["x-portico-key-prefix"] == inner_key.secret[:16]
    assert "x-api-key" not in r.json()["headers"]
    assert r.headers["X-Request-Id"]


def test_upstreams_known_at_start_get_static_blocks_and_new_ones_use_the_balancer(start_gateway, upstream):
    key = key_entry()
    defaults = {"connect_timeout_ms": 5000, "read_timeout_ms": 30000, "send_timeout_ms": 30000}
    gw = start_gateway(snapshot(1, [api_entry(upstream, **defaults)], keys=[key]))
    closed = f"http://127.0.0.1:{free_port()}"

    static = gw.get("/demo/x", key.secret)
    gw.push(
        [
            change(2, "api", 2, api_entry(closed, 2, "/other", **defaults)),
            change(2, "subscription", 8, subscription_entry(8, api_id=2)),
        ],
        1,
        2,
    )
    dynamic = gw.get("/other/x", key.secret)

    conf = (gw.runtime_dir / "conf" / "nginx.conf").read_text()
    assert f"upstream portico_u0 {{ server {upstream.removeprefix('http://')};" in conf
    assert static.status_code == 200
    assert dynamic.status_code == 502
    assert dynamic.json()["type"].endswith("/bad-gateway")


def test_malformed_optional_api_members_never_break_the_gateway(start_gateway, upstream):
    """A pushed API whose validation, signatures, redaction, mTLS or sandbox members are the wrong shape: the
    delta is refused or the member ignored, and the gateway keeps answering (no 5xx, no lost readiness)."""
    key = key_entry()
    gw = start_gateway(snapshot(1, [api_entry(upstream)], keys=[key]))
    odd = [
        {"validation": "enforce"},
        {"validation": {"mode": "enforce", "ops": "all"}},
        {"signatures": 5},
        {"redaction": "card_number"},
        {"redaction": {"names": [1, None]}},
        {"mtls": ["alone"]},
        {"sandbox_upstream_url": 7},
    ]
    for version, member in enumerate(odd, start=2):
        gw.push([change(version, "api", 1, api_entry(upstream, **member))], version - 1, version)
        answer = gw.get("/demo/x", key.secret)
        assert answer.status_code < 500, (member, answer.status_code, answer.text)
        assert gw.status()["ready"] is True
