"""Registering, revoking and requiring client certificates (certificates.services): strict PEM checks with clear
errors, the change feed and the audit trail."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from certificates.models import ClientCertificate, MtlsPolicy
from certificates.pem import MAX_PEM_BYTES
from certificates.services import certificate_register, certificate_revoke, mtls_policy_set
from foundation.errors import Conflict, LimitReached, ValidationFailed
from foundation.models import AuditEvent
from gateway_sync.models import ConfigChange
from gateway_sync.snapshot import build_snapshot
from tests.support.certificates import ThrowawayCA
from tests.support.client_certs import make_client_cert

pytestmark = pytest.mark.django_db


def _weak_rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "weak")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_a_registered_certificate_keeps_its_facts_and_reaches_the_change_feed(alice, application, tmp_path):
    client = make_client_cert(tmp_path, "client-a")

    cert = certificate_register(actor=alice, application=application, name="CI runner", pem=client.pem)

    assert cert.fingerprint == client.fingerprint
    assert cert.subject == "CN=client-a" and cert.issuer == "CN=client-a"
    assert cert.state_at(cert.created_at) == "active"
    change = ConfigChange.objects.get(kind="client_cert", object_id=client.fingerprint)
    assert change.op == "upsert"
    assert change.data["application_id"] == application.pk and change.data["status"] == "active"
    assert AuditEvent.objects.filter(action="certificate.registered").count() == 1
    assert [e["fingerprint"] for e in build_snapshot(version=1)["client_certs"]] == [client.fingerprint]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: "", "Paste or upload a PEM certificate."),
        (lambda tmp: "not a certificate", "No -----BEGIN CERTIFICATE----- block."),
        (lambda tmp: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a readable PEM"),
        (lambda tmp: make_client_cert(tmp, "a").pem + make_client_cert(tmp, "b").pem, "exactly one certificate"),
        (lambda tmp: make_client_cert(tmp, "old", start_days_ago=3).pem, "has expired"),
        (lambda tmp: make_client_cert(tmp, "ca", ca=True).pem, "CA certificate"),
        (lambda tmp: make_client_cert(tmp, "k").key.read_text(), "private key"),
        (lambda tmp: "A" * (MAX_PEM_BYTES + 1), "At most 16 KB"),
        (lambda tmp: _weak_rsa_pem(), "at least 2048 bits"),
    ],
    ids=["empty", "garbage", "bad-base64", "two", "expired", "ca", "private-key", "too-big", "weak-rsa"],
)
def test_an_unacceptable_pem_is_refused_with_a_clear_field_error(alice, application, tmp_path, make, message):
    with pytest.raises(ValidationFailed) as refused:
        certificate_register(actor=alice, application=application, name="x", pem=make(tmp_path))

    assert message in refused.value.field_errors["pem"][0]
    assert not ClientCertificate.objects.exists()
    assert not ConfigChange.objects.filter(kind="client_cert").exists()


def test_a_certificate_is_registered_once(alice, application, charlie, charlie_application, tmp_path):
    client = make_client_cert(tmp_path, "client-a")
    certificate_register(actor=alice, application=application, name="a", pem=client.pem)

    with pytest.raises(Conflict):
        certificate_register(actor=charlie, application=charlie_application, name="mine", pem=client.pem)


def test_an_application_has_a_certificate_limit(alice, application, tmp_path, settings):
    settings.PORTICO_MAX_CLIENT_CERTIFICATES_PER_APPLICATION = 1
    certificate_register(actor=alice, application=application, name="a", pem=make_client_cert(tmp_path, "a").pem)

    with pytest.raises(LimitReached):
        certificate_register(actor=alice, application=application, name="b", pem=make_client_cert(tmp_path, "b").pem)


def test_revoking_publishes_the_revoked_state_once(alice, application, tmp_path):
    cert = certificate_register(actor=alice, application=application, name="a", pem=make_client_cert(tmp_path, "a").pem)

    certificate_revoke(actor=alice, certificate=cert)
    certificate_revoke(actor=alice, certificate=cert)

    changes = ConfigChange.objects.filter(kind="client_cert").order_by("version")
    assert [c.data["status"] for c in changes] == ["active", "revoked"]
    assert AuditEvent.objects.filter(action="certificate.revoked").count() == 1
    assert build_snapshot(version=1)["client_certs"][0]["status"] == "revoked"


def test_an_api_policy_reaches_the_api_entry_only_when_on(alice, api, tmp_path):
    assert "mtls" not in build_snapshot(version=1)["apis"][0]
    ca = ThrowawayCA(tmp_path / "ca")

    mtls_policy_set(actor=alice, api=api, mode=MtlsPolicy.Mode.ALONE, ca_pem=ca.path.read_text())

    entry = build_snapshot(version=1)["apis"][0]
    assert entry["mtls"] == "alone" and entry["mtls_ca"].startswith("-----BEGIN CERTIFICATE-----")
    change = ConfigChange.objects.filter(kind="api", object_id=str(api.pk)).latest("version")
    assert change.data["mtls"] == "alone"
    mtls_policy_set(actor=alice, api=api, mode=MtlsPolicy.Mode.OFF)
    assert "mtls" not in build_snapshot(version=1)["apis"][0]


def test_an_api_ca_must_be_a_ca_certificate(alice, api, tmp_path):
    with pytest.raises(ValidationFailed) as refused:
        mtls_policy_set(actor=alice, api=api, mode="alone", ca_pem=make_client_cert(tmp_path, "leaf").pem)

    assert "Not a CA certificate." in refused.value.field_errors["ca_pem"]
    with pytest.raises(ValidationFailed):
        mtls_policy_set(actor=alice, api=api, mode="sometimes")
