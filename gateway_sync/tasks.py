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


class FailFastBroker:
    """How web requests hand tasks to the workers without ever waiting on a dead broker.

    Celery's shared connection pool retries a dead broker for seconds, inside the request. Instead each thread
    keeps its own connection that gives up after one attempt (setting one up costs ~20 ms, so it is reused;
    a thread that ends takes its connection with it), and after a failure every thread of the process skips
    the broker for `backoff_seconds`, so a hanging broker costs one timeout, not one per request.
    """

    def __init__(self, backoff_seconds: float) -> None:
        self.backoff_seconds = backoff_seconds
        self._down_until = 0.0  # process-wide: one thread's failure spares the others the wait
        self._per_thread = threading.local()

    def is_skipped(self) -> bool:
        """Whether a recent failure says not to try the broker now."""
        return time.monotonic() < self._down_until

    def failed(self) -> None:
        self._down_until = time.monotonic() + self.backoff_seconds

    def forget_failures(self) -> None:
        """Try the broker again at once (after it was repointed or restarted)."""
        self._down_until = 0.0

    def connection(self, app: Any) -> Any:
        """This thread's broker connection for `app`'s current broker URL, making a single connection attempt."""
        url = app.conf.broker_write_url or app.conf.broker_url
        cached = getattr(self._per_thread, "connection", None)
        if cached is None or cached[0] != url:
            options = {**(app.conf.broker_transport_options or {}), "max_retries": 0}
            self._per_thread.connection = (url, app.connection_for_write(url, transport_options=options))
        return self._per_thread.connection[1]


broker = FailFastBroker(BROKER_BACKOFF_SECONDS)


def enqueue_push() -> None:
    """Ask a worker to push the new changes; runs on commit and must never fail or stall the request.

    With the broker down the change is still committed: the periodic reconcile pushes it once the broker is
    back, and gateways pull it themselves at their next poll meanwhile.
    """
    if broker.is_skipped():
        return
    try:
        push_changes.apply_async(retry=False, connection=broker.connection(push_changes.app))
    except Exception as error:  # noqa: BLE001 - any broker failure; its text may carry the broker URL, so not logged
        broker.failed()
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
