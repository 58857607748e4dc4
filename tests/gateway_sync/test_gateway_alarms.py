"""A gateway's alarms travel in its heartbeat to the fleet page: keys its full dict could not hold, state it could
not persist (docs/gateway-protocol.md §4). A real gateway heartbeats to the live portal."""

from __future__ import annotations

import json

import pytest

from gateway_sync import secrets
from gateway_sync.models import Gateway
from gateway_sync.selectors import current_version
from tests.support.registration import register
from tests.support.snapshots import change, key_entry
from tests.support.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

FILLERS = 3000  # far more keys than a 128 KiB dict holds


def test_a_full_keys_dict_is_an_alarm_on_the_fleet_page_with_the_keys_not_held(gateway_for, staff_client, api_key):
    running, gateway = gateway_for("edge-1", options=["--keys-dict-size", "128k"])
    start = current_version()
    fillers = [change(start + 1 + i, "key", (k := key_entry()).digest, k.entry) for i in range(FILLERS)]

    body = json.dumps({"from": start, "to": start + FILLERS, "changes": fillers}).encode()
    pushed = running.signed("POST", "/_portico/config", body, secret=secrets.decrypt(gateway.push_secret_encrypted))

    assert pushed.json()["status"] == "applied"
    not_held = running.status()["config"]["keys_not_held"]
    assert not_held > 0
    wait_until(lambda: Gateway.objects.get(pk=gateway.pk).alarms.get("keys_not_held") == not_held)
    page = staff_client.get("/admin/gateway_sync/gateway/fleet/").content.decode()

    assert f"Keys dict full: {not_held} keys not held" in page
    assert "--keys-dict-size" in page


def test_a_gateway_without_alarms_shows_none(staff_client, db):
    register("edge-2")
    Gateway.objects.filter(name="edge-2").update(alarms={"persist_error": "write snapshot.json: No space left"})
    register("edge-3")

    page = staff_client.get("/admin/gateway_sync/gateway/fleet/").content.decode()

    assert page.count('class="alarms') == 1
    assert "Config not persisted: write snapshot.json: No space left" in page
