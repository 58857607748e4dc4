"""The verification snippet of docs/webhooks.md, run as pasted, verifies a real delivery and refuses a forgery."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
import requests

from keys.services import key_issue
from tests.support.ports import free_port
from tests.support.processes import REPO, spawn, stop
from tests.support.waiting import wait_until
from webhooks import tasks
from webhooks.models import Attempt, Delivery

pytestmark = pytest.mark.django_db

SNIPPET = re.compile(r"<!-- verification-snippet -->\n```python\n(.*?)```", re.S)


def test_the_documented_receiver_accepts_a_delivery_and_refuses_a_forgery(make_endpoint, application, alice, tmp_path):
    code = SNIPPET.search((REPO / "docs" / "webhooks.md").read_text()).group(1)
    script, log = tmp_path / "receiver.py", tmp_path / "receiver.log"
    script.write_text(code)
    port = free_port()
    endpoint, secret = make_endpoint(f"http://127.0.0.1:{port}/portico")
    env = {**os.environ, "PORTICO_WEBHOOK_SECRET": secret, "PORT": str(port)}
    receiver = spawn([sys.executable, str(script)], log, env=env)
    try:
        wait_until(lambda: requests.post(f"http://127.0.0.1:{port}/", data=b"{}", timeout=2).status_code == 400)
        key_issue(actor=alice, application=application, name="ci")
        delivery = Delivery.objects.get(endpoint=endpoint)
        tasks.deliver(delivery.pk)
        assert Attempt.objects.get(delivery=delivery).response_status == 204
        wait_until(lambda: "key.created" in Path(log).read_text(), what="the receiver printing the event")
        forged = requests.post(
            f"http://127.0.0.1:{port}/",
            data=b'{"type":"key.revoked"}',
            headers={"webhook-id": delivery.event_id, "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"},
            timeout=5,
        )
        assert forged.status_code == 400
    finally:
        stop(receiver)
