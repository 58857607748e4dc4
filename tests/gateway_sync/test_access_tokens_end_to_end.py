"""Consumer access tokens end to end: a client's token from the platform's real token endpoint is admitted by real
gateways that verify it locally, and revoking the client refuses it at two gateways within a second (pushed by a
real Celery worker)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
import requests

from keys.services import access_token_issue
from portal.models import Api
from tests.support.processes import REPO
from tests.support.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def routed(api, upstream):
    Api.objects.filter(pk=api.pk).update(upstream_url=upstream)
    return api


def _token(live_server, client_id: str, secret: str) -> str:
    r = requests.post(
        f"{live_server.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def test_a_token_from_the_token_endpoint_passes_and_a_revoked_client_is_refused_at_two_gateways_within_a_second(
    celery_worker, gateway_for, live_server, routed, oauth_client, alice
):
    client, secret = oauth_client
    first, _ = gateway_for("edge-1", poll_interval=30)  # polling too slow to matter: only the push can make it
    second, _ = gateway_for("edge-2", poll_interval=30)
    token = _token(live_server, client.client_id, secret)
    bearer = {"Authorization": f"Bearer {token}"}
    for gateway in (first, second):
        r = gateway.get("/weather/x", headers=bearer)
        assert r.status_code == 200, r.text
        assert r.json()["headers"]["x-portico-client"] == client.client_id
    _, pat = access_token_issue(user=alice, name="ops")

    started = time.monotonic()
    revoked = requests.post(
        f"{live_server.url}/api/v1/clients/{client.pk}/revoke/", headers={"Authorization": f"Bearer {pat}"}, timeout=10
    )
    assert revoked.status_code == 200, revoked.text
    for gateway in (first, second):
        wait_until(lambda g=gateway: g.get("/weather/x", headers=bearer).status_code == 401, timeout=1.0, interval=0.01)
    assert time.monotonic() - started < 1.0
    assert first.get("/weather/x", headers=bearer).json()["type"].endswith("/token-revoked")


def test_a_token_revoked_by_its_client_at_the_revocation_endpoint_is_refused(
    celery_worker, gateway_for, live_server, routed, oauth_client
):
    client, secret = oauth_client
    gateway, _ = gateway_for(poll_interval=30)
    token, other = _token(live_server, client.client_id, secret), _token(live_server, client.client_id, secret)
    assert gateway.get("/weather/x", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    r = requests.post(
        f"{live_server.url}/oauth/revoke", data={"token": token}, auth=(client.client_id, secret), timeout=10
    )

    assert r.status_code == 200
    wait_until(
        lambda: gateway.get("/weather/x", headers={"Authorization": f"Bearer {token}"}).status_code == 401, timeout=2
    )
    assert gateway.get("/weather/x", headers={"Authorization": f"Bearer {other}"}).status_code == 200


SNIPPET = re.compile(r"<!-- token-client-snippet -->\n```python\n(.*?)```", re.S)


def test_the_documented_client_gets_a_token_and_calls_the_api_as_pasted(
    gateway_for, live_server, routed, oauth_client, tmp_path
):
    client, secret = oauth_client
    gateway, _ = gateway_for(poll_interval=30)
    script = tmp_path / "client.py"
    script.write_text(SNIPPET.search((REPO / "docs" / "oauth.md").read_text()).group(1))
    env = {
        **os.environ, "PORTICO_URL": live_server.url, "PORTICO_GATEWAY_URL": gateway.url,
        "PORTICO_CLIENT_ID": client.client_id, "PORTICO_CLIENT_SECRET": secret,
    }  # fmt: skip

    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "200", done.stdout
