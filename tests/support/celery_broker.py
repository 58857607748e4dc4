"""Which broker this test process publishes to: the Celery app caches its pools, the push path a dead broker."""

from __future__ import annotations

from config.celery import app as celery_app
from gateway_sync import tasks


def point_celery_at(url: str) -> None:
    """Make this process publish to `url` (the app caches its connection pools on first use)."""
    celery_app.conf.broker_url = url
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
    celery_app._pool = None
    celery_app.__dict__.get("amqp") and setattr(celery_app.amqp, "_producer_pool", None)
    tasks.broker.forget_failures()  # forget a previous test's dead broker
