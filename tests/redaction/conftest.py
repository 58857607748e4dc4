"""Fixtures for ingest with redaction rules: a gateway row and the ids its records carry for alice's key."""

from __future__ import annotations

from typing import Any

import pytest

from gateway_sync import secrets
from gateway_sync.models import Gateway
from tests.support.gateway import PUSH_SECRET


@pytest.fixture
def gateway(db: Any) -> Gateway:
    return Gateway.objects.create(
        name="edge-1", admin_url="http://127.0.0.1:9", push_secret_encrypted=secrets.encrypt(PUSH_SECRET)
    )


@pytest.fixture
def ids(api_key: tuple[Any, str], subscription: Any) -> dict[str, Any]:
    """The ids a gateway logs for a request made with alice's key on her subscription."""
    return {
        "api": subscription.api_id,
        "app": subscription.application_id,
        "org": subscription.application.organisation_id,
        "sub": subscription.pk,
        "plan": subscription.plan_id,
        "key": api_key[0].prefix,
    }
