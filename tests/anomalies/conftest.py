"""Anomaly fixtures: hour rollups of alice's key written as ingest writes them, the hour examined, a real gateway."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db.models import F
from django.utils import timezone

from analytics.models import UsageRollup
from anomalies.services import hour_floor
from gateway_sync import secrets
from gateway_sync.models import Gateway
from gateway_sync.snapshot import build_snapshot
from portal.models import Plan
from tests.support.gateway import PUSH_SECRET

# A test that sends real traffic takes seconds; one starting this close to the end of an hour waits for the next,
# so all its traffic falls in the hour it examines.
HOUR_MARGIN = timedelta(seconds=60)


@pytest.fixture
def hour() -> datetime:
    """The hour under examination: the current UTC hour (detection examines it and the one before)."""
    now = timezone.now()
    if hour_floor(now + HOUR_MARGIN) != hour_floor(now):
        time.sleep((hour_floor(now + HOUR_MARGIN) - now).total_seconds())
    return hour_floor(timezone.now())


@pytest.fixture
def hour_rollup(api_key: tuple[Any, str], subscription: Any) -> Callable[..., UsageRollup]:
    """Factory: hour_rollup(bucket, requests, errors=0, denied=0, key=alice's key) adds to the key's hour rollups.

    Errors are filed under 5xx, denials under 4xx and the rest under 2xx, as ingest groups them."""

    def add(bucket: datetime, requests: int, errors: int = 0, denied: int = 0, key: Any = None) -> UsageRollup:
        key = key or api_key[0]
        group = {
            "granularity": UsageRollup.Granularity.HOUR,
            "bucket": bucket,
            "organisation_id": key.application.organisation_id,
            "application_id": key.application_id,
            "key_id": key.pk,
            "api_id": subscription.api_id,
        }
        ok = requests - errors - denied
        parts = ((2, ok, {}), (5, errors, {"errors": errors}), (4, denied, {"denied": denied}))
        for status_class, n, counters in parts:
            if n:  # additive, as ingest's upsert is
                row, _ = UsageRollup.objects.get_or_create(**group, status_class=status_class)
                UsageRollup.objects.filter(pk=row.pk).update(
                    requests=F("requests") + n, **{name: F(name) + value for name, value in counters.items()}
                )
        return UsageRollup.objects.filter(**group).first()

    return add


@pytest.fixture
def baseline(hour_rollup: Callable[..., Any], hour: datetime) -> Callable[..., None]:
    """Factory: baseline(per_day, errors=0, denied=0): the same hour on each of the 7 days before `hour`."""

    def seed(per_day: int, errors: int = 0, denied: int = 0) -> None:
        for days in range(1, 8):
            hour_rollup(hour - timedelta(days=days), per_day, errors, denied)

    return seed


@pytest.fixture
def serving_gateway(api: Any, subscription: Any, upstream: str, start_gateway: Any) -> Any:
    """Factory: start(extra=[...]) -> (a real gateway serving the platform's snapshot without rate limits, its row)."""

    def start(extra: list[str] | None = None) -> tuple[Any, Gateway]:
        api.upstream_url = upstream
        api.save()
        Plan.objects.filter(pk=subscription.plan_id).update(rate_per_second=None, rate_per_minute=None)
        options = ["--log-flush-interval", "0.05", *(extra or [])]
        running = start_gateway(build_snapshot(version=1), extra=options)
        row = Gateway.objects.create(
            name="edge-1", admin_url=running.admin_url, push_secret_encrypted=secrets.encrypt(PUSH_SECRET)
        )
        return running, row

    return start
