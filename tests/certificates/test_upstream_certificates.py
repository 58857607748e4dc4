"""The client certificate an API presents to its upstream: the key must match and is stored encrypted; gateways
get it in the API's config entry, and its removal too."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from certificates.models import UpstreamCertificate
from certificates.services import upstream_certificate_remove, upstream_certificate_set
from foundation.errors import ValidationFailed
from gateway_sync.models import ConfigChange
from gateway_sync.snapshot import build_snapshot
from tests.support.client_certs import make_client_cert

pytestmark = pytest.mark.django_db


def test_the_key_is_stored_encrypted_and_shipped_with_the_api(alice, api, tmp_path):
    edge = make_client_cert(tmp_path, "portico-edge")
    key_pem = edge.key.read_text()

    stored = upstream_certificate_set(actor=alice, api=api, certificate_pem=edge.pem, key_pem=key_pem)

    row = UpstreamCertificate.objects.get(pk=stored.pk)
    assert "PRIVATE KEY" not in row.key_encrypted and key_pem not in row.key_encrypted
    entry = build_snapshot(version=1)["apis"][0]
    assert entry["upstream_client_cert"] == edge.pem and entry["upstream_client_key"] == key_pem
    change = ConfigChange.objects.filter(kind="api").latest("version")
    assert "upstream_client_key" not in change.data and key_pem not in str(change.data)  # encrypted in the feed
    assert change.as_delta()["data"]["upstream_client_key"] == key_pem  # decrypted into what gateways get

    upstream_certificate_remove(actor=alice, api=api)

    assert "upstream_client_cert" not in build_snapshot(version=1)["apis"][0]
    assert "upstream_client_key" not in ConfigChange.objects.filter(kind="api").latest("version").as_delta()["data"]


def test_a_key_of_another_certificate_or_an_encrypted_key_is_refused(alice, api, tmp_path):
    edge, other = make_client_cert(tmp_path, "edge"), make_client_cert(tmp_path, "other")
    encrypted = (
        serialization.load_pem_private_key(edge.key.read_bytes(), password=None)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
        .decode()
    )

    with pytest.raises(ValidationFailed) as mismatch:
        upstream_certificate_set(actor=alice, api=api, certificate_pem=edge.pem, key_pem=other.key.read_text())
    with pytest.raises(ValidationFailed) as locked:
        upstream_certificate_set(actor=alice, api=api, certificate_pem=edge.pem, key_pem=encrypted)

    assert mismatch.value.field_errors["key_pem"] == ["This key does not belong to the certificate."]
    assert "unencrypted" in locked.value.field_errors["key_pem"][0]
    assert not UpstreamCertificate.objects.exists()
