"""A request in an application's request log, for tests that walk every route (they need a real request id)."""

from __future__ import annotations

from typing import Any

from analytics.services.ingest import batch_ingest
from gateway_sync import secrets
from gateway_sync.models import Gateway
from tests.support.access_log import batch, record
from tests.support.gateway import PUSH_SECRET


def log_request(subscription: Any, *, request_id: str = "req-logged-1", **fields: Any) -> str:
    """One request of the subscription's application, ingested from a gateway row of its own; returns its id."""
    gateway = Gateway.objects.create(
        name=f"edge-log-{request_id}",
        admin_url="http://127.0.0.1:9",
        push_secret_encrypted=secrets.encrypt(PUSH_SECRET),
    )
    ids = {
        "api": subscription.api_id,
        "app": subscription.application_id,
        "org": subscription.application.organisation_id,
        "sub": subscription.pk,
        "plan": subscription.plan_id,
    }
    batch_ingest(gateway_id=gateway.pk, batch=batch(1, [record(ids, id=request_id, **fields)]))
    return request_id
