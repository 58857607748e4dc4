"""Request validation end to end (docs/protection.md): turning it on in the platform reaches a real gateway through
the push, within the push latency, and turning it off again lets the same request through."""

from __future__ import annotations

import pytest

from portal.models import Api
from protection.services.validation import api_protection_save
from tests.support.openapi_docs import pets
from tests.support.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_switching_the_mode_in_the_platform_reaches_a_real_gateway(
    celery_worker, gateway_for, upstream, api, api_key, staff
):
    document = pets()
    document["paths"]["/items/{n}"] = {
        "get": {"parameters": [{"name": "n", "in": "path", "required": True, "schema": {"type": "integer"}}]}
    }
    Api.objects.filter(pk=api.pk).update(upstream_url=upstream, openapi_document=document)
    api.refresh_from_db()
    gateway, _ = gateway_for(poll_interval=30)  # polling too slow to matter: only the push can make it
    _, secret = api_key
    assert gateway.get("/weather/items/abc", secret).status_code == 200

    api_protection_save(actor=staff, api=api, validation_mode="enforce")
    wait_until(lambda: gateway.get("/weather/items/abc", secret).status_code == 400, timeout=2.0, interval=0.02)
    refused = gateway.get("/weather/items/abc", secret)
    assert (refused.json()["pointer"], refused.json()["rule"]) == ("/path/n", "type")
    assert gateway.get("/weather/items/7", secret).status_code == 200
    assert gateway.get("/weather/nowhere", secret).status_code == 404

    api_protection_save(actor=staff, api=api, validation_mode="off")
    wait_until(lambda: gateway.get("/weather/items/abc", secret).status_code == 200, timeout=2.0, interval=0.02)
