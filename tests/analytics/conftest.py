"""Usage pipeline fixtures: a registered gateway row and access-log records in the gateway's format (§6)."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from gateway_sync import secrets
from gateway_sync.models import Gateway
from gateway_sync.snapshot import build_snapshot
from portal.models import Plan
from tests.gateway.conftest import PUSH_SECRET, start_gateway, upstream  # noqa: F401  (fixtures)

_request_ids = itertools.count(1)


@pytest.fixture
def serving_gateway(api: Any, subscription: Any, upstream: str, start_gateway: Any) -> Any:  # noqa: F811
    """Factory: a real gateway serving the platform's snapshot (no rate limits), registered as a Gateway row.

    start(flush_interval) -> (running gateway, Gateway row)
    """

    def start(flush_interval: float) -> tuple[Any, Gateway]:
        api.upstream_url = upstream
        api.save()
        Plan.objects.filter(pk=subscription.plan_id).update(rate_per_second=None, rate_per_minute=None)
        running = start_gateway(build_snapshot(version=1), extra=["--log-flush-interval", str(flush_interval)])
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


def record(ids: dict[str, Any] | None = None, *, t: float | None = None, **fields: Any) -> dict[str, Any]:
    """One access-log record as the gateway writes it; `ids` from the fixture, fields overridable."""
    rec: dict[str, Any] = {
        "t": time.time() if t is None else t,
        "id": f"req-{next(_request_ids)}",
        "m": "GET",
        "p": "/weather/today",
        "s": 200,
        "rt": 0.004,
        "ut": 0.003,
        "bi": 300,
        "bo": 800,
        "ip": "203.0.113.9",
        "api": None,
        "app": None,
        "org": None,
        "sub": None,
        "plan": None,
        "key": "",
        "lim": "ok",
    }
    rec.update(ids or {})
    rec.update(fields)
    return rec


def batch(sequence: int, records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"sequence": sequence, "count": len(records), "src": "0:0", "records": records}
