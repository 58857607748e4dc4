"""Celery tasks of the usage pipeline: each takes ids, calls one service and is safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from analytics.services import collection, quota, storage
from gateway_sync.models import Gateway


@shared_task(ignore_result=True)
def collect_logs() -> None:
    """Beat fan-out: one collection per enabled gateway; stale ones expire instead of piling up."""
    expires = settings.PORTICO_USAGE_COLLECT_INTERVAL * 5
    for gateway_id in Gateway.objects.filter(enabled=True).values_list("id", flat=True):
        collect_gateway_logs.apply_async((gateway_id,), expires=expires)


@shared_task(ignore_result=True)
def collect_gateway_logs(gateway_id: int) -> None:
    """Collect one gateway's access-log batches (skipped if another worker is collecting it)."""
    collection.gateway_logs_collect(
        gateway_id=gateway_id, limit=settings.PORTICO_USAGE_FETCH_LIMIT, rounds=settings.PORTICO_USAGE_FETCH_ROUNDS
    )


@shared_task(ignore_result=True)
def release_quota_blocks() -> None:
    """Lift quota blocks at the period boundary or once the (changed) plan leaves quota again."""
    quota.quota_release(now=timezone.now())


@shared_task(ignore_result=True)
def maintain_usage_storage() -> None:
    """Event partitions ahead of time; retention of events, rollups and batch records."""
    storage.usage_storage_maintain(now=timezone.now())
