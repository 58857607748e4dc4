"""Consumer mTLS end to end (docs/mtls.md): a certificate registered on the platform is accepted by real TLS
gateways pulling from a live portal, and its revocation through the REST API is pushed by a real Celery worker
and refused at both gateways within a second."""

from __future__ import annotations

import time

import pytest
import requests

from certificates.models import MtlsPolicy
from certificates.services import certificate_register, mtls_policy_set
from keys.services import access_token_issue
from portal.models import Api
from tests.support.client_certs import make_client_cert
from tests.support.tls import self_signed_certificate
from tests.support.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_revoked_certificate_is_refused_at_two_gateways_within_a_second(
    celery_worker, gateway_for, live_server, api, upstream, subscription, application, alice, tmp_path
):
    Api.objects.filter(pk=api.pk).update(upstream_url=upstream)
    mtls_policy_set(actor=alice, api=api, mode=MtlsPolicy.Mode.ALONE)
    client = make_client_cert(tmp_path / "client", "alices-backend")
    cert = certificate_register(actor=alice, application=application, name="backend", pem=client.pem)
    tls_cert, tls_key = self_signed_certificate(tmp_path / "tls")
    tls = ["--tls-cert", str(tls_cert), "--tls-key", str(tls_key)]
    gateways = [gateway_for(name, poll_interval=30, options=tls)[0] for name in ("edge-1", "edge-2")]

    def status(gateway) -> int:
        url = f"https://127.0.0.1:{gateway.port}/weather/x"
        return requests.get(url, cert=client.pair, verify=str(tls_cert), timeout=5).status_code

    assert [status(g) for g in gateways] == [200, 200]

    _, pat = access_token_issue(user=alice, name="ops")
    started = time.monotonic()
    revoked = requests.post(
        f"{live_server.url}/api/v1/certificates/{cert.pk}/revoke/",
        headers={"Authorization": f"Bearer {pat}"},
        timeout=10,
    )
    assert revoked.status_code == 200
    wait_until(lambda: [status(g) for g in gateways] == [401, 401], timeout=1.0, interval=0.01)
    assert time.monotonic() - started < 1.0
    refused = requests.get(f"https://127.0.0.1:{gateways[1].port}/weather/x", cert=client.pair, verify=str(tls_cert))
    assert refused.json()["type"].endswith("/certificate-revoked")
