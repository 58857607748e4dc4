"""Celery tasks that keep gateways in step with the platform: push on commit, reconcile and prune on a schedule."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import shared_task

from gateway_sync import services

logger = logging.getLogger(__name__)

PUSH_MAX_RETRIES = 5
# After a failed enqueue, requests skip the broker for this long instead of each waiting on it again.
BROKER_BACKOFF_SECONDS = 5.0

_broker_down_until = 0.0
_local = threading.local()


def _fail_fast_connection() -> Any:
    """This thread's broker connection, giving up after one attempt (the shared pool keeps retrying for seconds).

    Kept per thread because setting one up costs ~20 ms; a thread that ends takes its connection with it.
    """
    app = push_changes.app
    url = app.conf.broker_write_url or app.conf.broker_url
    cached = getattr(_local, "connection", None)
    if cached is None or cached[0] != url:
        options = {**(app.conf.broker_transport_options or {}), "max_retries": 0}
        _local.connection = (url, app.connection_for_write(url, transport_options=options))
    return _local.connection[1]


def enqueue_push() -> None:
    """Ask a worker to push the new changes; runs on commit and must never fail or stall the request.

    With the broker down the change is still committed: the periodic reconcile pushes it once the broker is
    back, and gateways pull it themselves at their next poll meanwhile.
    """
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        return
    try:
        push_changes.apply_async(retry=False, connection=_fail_fast_connection())
    except Exception as error:  # noqa: BLE001 - any broker failure; its text may carry the broker URL, so not logged
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        logger.warning("could not enqueue a gateway push (%s); gateways will catch up by polling", type(error).__name__)


@shared_task(bind=True, max_retries=PUSH_MAX_RETRIES, ignore_result=True)
def push_changes(self, gateway_ids: list[int] | None = None) -> None:  # type: ignore[no-untyped-def]
    """Push the feed to every enabled gateway; retry the ones that failed, with exponential backoff."""
    failed = [result.gateway_id for result in services.gateways_push(gateway_ids=gateway_ids) if result.failed]
    if failed and self.request.retries < PUSH_MAX_RETRIES:
        # 1, 2, 4, 8, 16 s; after that the periodic reconcile keeps trying.
        raise self.retry(kwargs={"gateway_ids": failed}, countdown=2**self.request.retries)


@shared_task(ignore_result=True, expires=30)
def reconcile_gateways() -> None:
    """Repair drift between each gateway's applied version and the feed, and refresh fleet health."""
    services.gateways_reconcile()


@shared_task(ignore_result=True)
def prune_changes() -> None:
    """Drop changes past the retention period (gateways that far behind pull a full snapshot)."""
    deleted = services.feed_prune()
    logger.info("pruned %d config changes", deleted)
