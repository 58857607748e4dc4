"""Staff in the admin: set an API's mTLS policy and upstream certificate through the services (bad input is a
form error), revoke client certificates; the upstream key is never shown."""

from __future__ import annotations

from typing import Any

from django.test import Client

from certificates.models import ClientCertificate, MtlsPolicy, UpstreamCertificate
from gateway_sync.models import ConfigChange
from tests.support.api_fixtures import registered_certificate
from tests.support.certificates import ThrowawayCA
from tests.support.client_certs import make_client_cert


def test_staff_set_an_apis_mtls_policy_with_a_ca(staff_client: Client, api: Any, tmp_path: Any) -> None:
    ca = ThrowawayCA(tmp_path / "ca")
    url = "/admin/certificates/mtlspolicy/add/"
    leaf = make_client_cert(tmp_path, "leaf").pem

    refused = staff_client.post(url, {"api": api.pk, "mode": "alone", "ca_pem": leaf})
    saved = staff_client.post(url, {"api": api.pk, "mode": "alone", "ca_pem": ca.path.read_text()})

    assert refused.status_code == 200 and "Not a CA certificate." in refused.content.decode()
    assert saved.status_code == 302, saved.content.decode()[:2000]
    assert MtlsPolicy.objects.get(api=api).mode == "alone"
    assert ConfigChange.objects.filter(kind="api").latest("version").data["mtls"] == "alone"


def test_staff_set_an_upstream_certificate_whose_key_is_never_shown(
    staff_client: Client, api: Any, tmp_path: Any
) -> None:
    edge, other = make_client_cert(tmp_path, "edge"), make_client_cert(tmp_path, "other")
    url = "/admin/certificates/upstreamcertificate/add/"

    refused = staff_client.post(url, {"api": api.pk, "certificate_pem": edge.pem, "key_pem": other.key.read_text()})
    saved = staff_client.post(url, {"api": api.pk, "certificate_pem": edge.pem, "key_pem": edge.key.read_text()})

    assert "This key does not belong to the certificate." in refused.content.decode()
    assert saved.status_code == 302
    row = UpstreamCertificate.objects.get(api=api)
    page = staff_client.get(f"/admin/certificates/upstreamcertificate/{row.pk}/change/").content.decode()
    key_body = edge.key.read_text().splitlines()[1]
    assert "CN=edge" in page and key_body not in page and row.key_encrypted not in page


def test_staff_revoke_client_certificates(staff_client: Client, application: Any) -> None:
    cert = registered_certificate(application)

    staff_client.post("/admin/certificates/clientcertificate/", {"action": "revoke", "_selected_action": [cert.pk]})

    assert ClientCertificate.objects.get(pk=cert.pk).revoked_at is not None
