"""Upstream TLS: the gateway verifies an https upstream's certificate (chain and host name) by default, against
--upstream-ca-file; an API can turn the check off for itself. Certificates come from a throwaway CA."""

from __future__ import annotations

import pytest

from tests.support.certificates import ThrowawayCA, https_server
from tests.support.snapshots import api_entry, key_entry, snapshot


@pytest.fixture
def ca(tmp_path):
    return ThrowawayCA(tmp_path / "ca")


def _gateway(start_gateway, port: int, key, *, ca_file=None, **api_fields):
    api = api_entry(f"https://localhost:{port}", **api_fields)
    extra = ["--upstream-ca-file", str(ca_file)] if ca_file else []
    return start_gateway(snapshot(1, [api], keys=[key]), extra=extra)


def test_an_upstream_certificate_from_the_configured_ca_for_its_host_name_is_accepted(start_gateway, ca):
    key = key_entry()
    with https_server(*ca.issue("localhost")) as port:
        gw = _gateway(start_gateway, port, key, ca_file=ca.path)

        r = gw.get("/demo/x", key.secret)

    assert r.status_code == 200, r.text
    assert r.json() == {"path": "/x", "tls": True}


@pytest.mark.parametrize(
    ("issue", "trusted"),
    [
        (lambda ca: ca.issue("localhost"), False),  # a CA the gateway does not trust (the system bundle's)
        (lambda ca: ca.issue("other.example"), True),  # trusted CA, another host name
        (lambda ca: ca.issue("localhost", expired=True), True),  # trusted CA, expired
    ],
    ids=["unknown-ca", "wrong-host-name", "expired"],
)
def test_an_upstream_that_cannot_prove_its_identity_gets_no_request(start_gateway, ca, issue, trusted):
    key = key_entry()
    with https_server(*issue(ca)) as port:
        gw = _gateway(start_gateway, port, key, ca_file=ca.path if trusted else None)

        r = gw.get("/demo/x", key.secret)

    assert r.status_code == 502
    assert r.json()["type"].endswith("/bad-gateway")


def test_an_api_can_turn_the_check_off_for_a_self_signed_private_upstream(start_gateway, ca):
    key = key_entry()
    with https_server(*ca.issue("localhost")) as port:
        # the CA is unknown to the gateway
        gw = _gateway(start_gateway, port, key, upstream_tls_verify=False, allow_query_key=True)

        r = gw.get("/demo/x", key.secret)
        query = gw.get(f"/demo/x?api_key={key.secret}")  # the query-key locations follow the same rule

    assert r.status_code == 200, r.text
    assert query.status_code == 200, query.text
    assert query.json()["path"] == "/x"
