"""Consumer mutual TLS at the gateway (docs/mtls.md): a real TLS listener asks for client certificates, and an API
with `mtls` accepts only registered (pinned) ones, alone or with a key of the same application. Certificates are
made on the fly."""

from __future__ import annotations

import pytest
import requests

from tests.support.certificates import ThrowawayCA, https_server
from tests.support.client_certs import make_client_cert
from tests.support.jwt_tokens import Signer, oauth_member
from tests.support.snapshots import api_entry, change, key_entry, snapshot, subscription_entry
from tests.support.tls import self_signed_certificate


@pytest.fixture
def tls_files(tmp_path):
    return self_signed_certificate(tmp_path / "gateway-tls")


def _start(start_gateway, tls_files, apis, *, keys=(), certs=(), subscriptions=None):
    snap = snapshot(1, apis, keys=list(keys), subscriptions=subscriptions)
    snap["client_certs"] = list(certs)
    cert, key = tls_files
    return start_gateway(snap, extra=["--tls-cert", str(cert), "--tls-key", str(key)])


def _get(gw, tls_files, path, *, cert=None, key=None):
    headers = {"X-API-Key": key} if key else {}
    return requests.get(
        f"https://127.0.0.1:{gw.port}{path}", headers=headers, cert=cert, verify=str(tls_files[0]), timeout=10
    )


def test_a_registered_certificate_alone_identifies_the_application(start_gateway, upstream, tls_files, tmp_path):
    client = make_client_cert(tmp_path / "c", "client-a")
    gw = _start(start_gateway, tls_files, [api_entry(upstream, mtls="alone")], certs=[client.entry()])

    r = _get(gw, tls_files, "/demo/x", cert=client.pair)

    assert r.status_code == 200, r.text
    assert r.json()["headers"]["x-portico-application"] == "5"
    record = gw.wait_records(1)[-1]
    assert (record["key"], record["app"], record["sub"]) == (f"cert:{client.fingerprint[:15]}", 5, 7)


@pytest.mark.parametrize(
    ("present", "entry", "cause"),
    [
        (False, {}, "certificate-required"),
        (True, None, "certificate-unknown"),
        (True, {"status": "revoked"}, "certificate-revoked"),
        (True, {"not_after": 1000}, "certificate-expired"),
        (True, {"not_before": 4102444800}, "certificate-expired"),
    ],
    ids=["none", "unregistered", "revoked", "expired", "not-yet-valid"],
)
def test_a_missing_or_unusable_certificate_is_refused(
    start_gateway, upstream, tls_files, tmp_path, present, entry, cause
):
    client = make_client_cert(tmp_path / "c", "client-a")
    certs = [client.entry(**entry)] if entry is not None else []
    gw = _start(start_gateway, tls_files, [api_entry(upstream, mtls="alone")], certs=certs)

    r = _get(gw, tls_files, "/demo/x", cert=client.pair if present else None)

    assert r.status_code == 401
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert r.json()["type"].endswith(f"/{cause}")


def test_with_a_key_both_must_belong_to_the_same_application(start_gateway, upstream, tls_files, tmp_path):
    mine, theirs = make_client_cert(tmp_path / "c", "mine"), make_client_cert(tmp_path / "c", "theirs")
    key = key_entry()
    gw = _start(
        start_gateway,
        tls_files,
        [api_entry(upstream, mtls="with_key")],
        keys=[key],
        certs=[mine.entry(), theirs.entry(application_id=6)],
    )

    both = _get(gw, tls_files, "/demo/x", cert=mine.pair, key=key.secret)
    key_only = _get(gw, tls_files, "/demo/x", key=key.secret)
    cert_only = _get(gw, tls_files, "/demo/x", cert=mine.pair)
    other_app = _get(gw, tls_files, "/demo/x", cert=theirs.pair, key=key.secret)

    assert both.status_code == 200, both.text
    assert both.json()["headers"]["x-portico-key-prefix"] == key.entry["prefix"]
    assert key_only.json()["type"].endswith("/certificate-required")
    assert cert_only.json()["type"].endswith("/missing-key")
    assert other_app.json()["type"].endswith("/certificate-mismatch")


def test_apis_without_mtls_ignore_certificates(start_gateway, upstream, tls_files, tmp_path):
    stranger = make_client_cert(tmp_path / "c", "stranger")
    key = key_entry()
    gw = _start(start_gateway, tls_files, [api_entry(upstream)], keys=[key])

    assert _get(gw, tls_files, "/demo/x", key=key.secret).status_code == 200
    assert _get(gw, tls_files, "/demo/x", key=key.secret, cert=stranger.pair).status_code == 200


def test_an_api_ca_admits_only_certificates_it_signed(start_gateway, upstream, tls_files, tmp_path):
    ca = ThrowawayCA(tmp_path / "ca")
    signed = make_client_cert(tmp_path / "c", "signed", issuer=(ca.cert, ca.key))
    self_signed = make_client_cert(tmp_path / "c", "self-signed")
    api = api_entry(upstream, mtls="alone", mtls_ca=ca.path.read_text())
    gw = _start(start_gateway, tls_files, [api], certs=[signed.entry(), self_signed.entry()])

    assert _get(gw, tls_files, "/demo/x", cert=signed.pair).status_code == 200
    refused = _get(gw, tls_files, "/demo/x", cert=self_signed.pair)
    assert refused.status_code == 401
    assert refused.json()["type"].endswith("/certificate-untrusted")


def test_a_pushed_revocation_is_refused_on_the_next_request(start_gateway, upstream, tls_files, tmp_path):
    client = make_client_cert(tmp_path / "c", "client-a")
    gw = _start(start_gateway, tls_files, [api_entry(upstream, mtls="alone")], certs=[client.entry()])
    assert _get(gw, tls_files, "/demo/x", cert=client.pair).status_code == 200

    revoked = client.entry(status="revoked")
    assert gw.push([change(2, "client_cert", client.fingerprint, revoked)], 1, 2).status_code == 200
    assert _get(gw, tls_files, "/demo/x", cert=client.pair).json()["type"].endswith("/certificate-revoked")

    assert gw.push([change(3, "client_cert", client.fingerprint, op="delete")], 2, 3).status_code == 200
    assert _get(gw, tls_files, "/demo/x", cert=client.pair).json()["type"].endswith("/certificate-unknown")


def test_a_subscription_is_still_needed_with_a_certificate_alone(start_gateway, upstream, tls_files, tmp_path):
    client = make_client_cert(tmp_path / "c", "client-a")
    gw = _start(
        start_gateway,
        tls_files,
        [api_entry(upstream, mtls="alone")],
        certs=[client.entry()],
        subscriptions=[subscription_entry(application_id=9)],
    )

    r = _get(gw, tls_files, "/demo/x", cert=client.pair)

    assert r.status_code == 403
    assert r.json()["type"].endswith("/forbidden-api")


# --- the API's own client certificate towards its upstream ---------------------------------------------------------


def test_an_api_presents_its_client_certificate_to_an_upstream_that_requires_one(start_gateway, tmp_path):
    server_ca, client_ca = ThrowawayCA(tmp_path / "server-ca"), ThrowawayCA(tmp_path / "client-ca")
    client = make_client_cert(tmp_path / "c", "portico-edge", issuer=(client_ca.cert, client_ca.key))
    key = key_entry()
    with https_server(*server_ca.issue("localhost"), client_ca=client_ca.path) as port:
        with_cert = api_entry(
            f"https://localhost:{port}",
            upstream_client_cert=client.pem,
            upstream_client_key=client.key.read_text(),
            allow_query_key=True,
        )
        without = api_entry(f"https://localhost:{port}", id=2, path_prefix="/plain")
        snap = snapshot(
            1,
            [with_cert, without],
            keys=[key],
            subscriptions=[subscription_entry(), subscription_entry(id=8, api_id=2)],
        )
        gw = start_gateway(snap, extra=["--upstream-ca-file", str(server_ca.path)])

        r = gw.get("/demo/x", key.secret)
        query = gw.get(f"/demo/x?api_key={key.secret}")
        plain = gw.get("/plain/x", key.secret)

    assert r.status_code == 200, r.text
    assert r.json() == {"path": "/x", "tls": True, "client": "portico-edge"}
    assert query.json()["client"] == "portico-edge"
    assert plain.status_code == 502  # the other API to the same upstream presents nothing: refused in the handshake


def test_with_an_access_token_the_certificate_must_be_of_the_tokens_application(
    start_gateway, upstream, tls_files, tmp_path
):
    signer = Signer()
    mine, theirs = make_client_cert(tmp_path / "c", "mine"), make_client_cert(tmp_path / "c", "theirs")
    snap = snapshot(1, [api_entry(upstream, mtls="with_key")], oauth=oauth_member(signer))
    snap["client_certs"] = [mine.entry(), theirs.entry(application_id=6)]
    gw = start_gateway(snap, extra=["--tls-cert", str(tls_files[0]), "--tls-key", str(tls_files[1])])
    url = f"https://127.0.0.1:{gw.port}/demo/x"
    token = {"Authorization": f"Bearer {signer.token()}"}  # application 5

    ok = requests.get(url, headers=token, cert=mine.pair, verify=str(tls_files[0]), timeout=10)
    other = requests.get(url, headers=token, cert=theirs.pair, verify=str(tls_files[0]), timeout=10)

    assert ok.status_code == 200, ok.text
    assert other.json()["type"].endswith("/certificate-mismatch")


@pytest.mark.parametrize(
    "data",
    [{"fingerprint": 7}, {"fingerprint": "zz", "status": "active"}, {"status": ["active"]}, "not an object"],
)
def test_a_malformed_certificate_change_leaves_the_registered_ones_working(
    start_gateway, upstream, tls_files, tmp_path, data
):
    client = make_client_cert(tmp_path / "c", "client-a")
    gw = _start(start_gateway, tls_files, [api_entry(upstream, mtls="alone")], certs=[client.entry()])

    answer = gw.push([change(2, "client_cert", "bogus", data)], 1, 2)

    assert answer.status_code < 500
    assert _get(gw, tls_files, "/demo/x", cert=client.pair).status_code == 200
    assert gw.status()["ready"] is True
