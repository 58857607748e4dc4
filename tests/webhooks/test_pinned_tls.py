"""The connection goes to the address that was checked, while TLS and the Host header still name the host: a
real TLS server on 127.0.0.1 with a certificate for hooks.example.com, trusted for this test only."""

from __future__ import annotations

import datetime
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from webhooks import transport

HOST = "hooks.example.com"


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@contextmanager
def tls_server(cert: Path, key: Path) -> Iterator[dict[str, object]]:
    seen: dict[str, object] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            seen["host"] = self.headers["Host"]
            seen["body"] = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: seen.__setitem__("sni", name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    seen["port"] = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return _certificate(tmp_path)


def _target(port: int) -> transport.Target:
    """What resolve() returns for https://hooks.example.com:<port>/in if the name resolved to the checked address."""
    return transport.Target(scheme="https", host=HOST, port=port, path="/in", address="127.0.0.1")


def test_tls_names_the_host_while_connecting_to_the_checked_address(certificate, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # trust the test certificate, nothing else changes
    with tls_server(*certificate) as seen:
        answer = transport.post(_target(int(seen["port"])), body=b"{}", headers={}, timeout=5, max_bytes=1024)
    assert answer.status == 204, answer.error
    assert seen["sni"] == HOST and seen["host"] == f"{HOST}:{seen['port']}"


def test_a_certificate_not_trusted_for_the_host_is_refused(certificate):
    with tls_server(*certificate) as seen:
        answer = transport.post(_target(int(seen["port"])), body=b"{}", headers={}, timeout=5, max_bytes=1024)
    assert answer.status is None and "TLS" in answer.error
    assert "body" not in seen  # nothing was sent
