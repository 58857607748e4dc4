"""Usage pipeline fixtures: a real gateway serving the platform's snapshot, a registered gateway row, log identities."""

from __future__ import annotations

from typing import Any

import pytest

from gateway_sync import secrets
from gateway_sync.models import Gateway
from gateway_sync.snapshot import build_snapshot
from portal.models import Plan
from tests.support.gateway import PUSH_SECRET


@pytest.fixture
def serving_gateway(api: Any, subscription: Any, upstream: str, start_gateway: Any) -> Any:
    """Factory: a real gateway serving the platform's snapshot (no rate limits), registered as a Gateway row.

    start(flush_interval, clock_shift=0) -> (running gateway, Gateway row); clock_shift as start_gateway's
    """

    def start(flush_interval: float, clock_shift: int = 0) -> tuple[Any, Gateway]:
        api.upstream_url = upstream
        api.save()
        Plan.objects.filter(pk=subscription.plan_id).update(rate_per_second=None, rate_per_minute=None)
        extra = ["--log-flush-interval", str(flush_interval)]
        running = start_gateway(build_snapshot(version=1), extra=extra, clock_shift=clock_shift)
        row = Gateway.objects.create(
            name="edge-1", admin_url=running.admin_url, push_secret_encrypted=secrets.encrypt(PUSH_SECRET)
        )
        return running, row

    return start


@pytest.fixture
def gateway(db: Any) -> Gateway:
    """A gateway row (registration is another service; the row is all ingest needs)."""
    return Gateway.objects.create(
        name="edge-1", admin_url="http://127.0.0.1:9", push_secret_encrypted=secrets.encrypt(PUSH_SECRET)
    )


@pytest.fixture
def ids(api_key: tuple[Any, str], subscription: Any) -> dict[str, Any]:
    """The ids a gateway logs for a request made with alice's key on her subscription."""
    key = api_key[0]
    return {
        "api": subscription.api_id,
        "app": subscription.application_id,
        "org": subscription.application.organisation_id,
        "sub": subscription.pk,
        "plan": subscription.plan_id,
        "key": key.prefix,
    }
