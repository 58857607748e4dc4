"""Celery tasks that send webhooks: one per delivery on commit, and a periodic sweep of everything due."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from webhooks import services


@shared_task(ignore_result=True)
def deliver(delivery_id: int) -> None:
    """One attempt of one delivery, if it is still due (a duplicate or late task does nothing)."""
    services.delivery_attempt(delivery_id=delivery_id)


@shared_task(ignore_result=True, expires=15)
def send_due() -> None:
    """Retries whose time has come, and deliveries whose on-commit task was lost (broker down, worker killed)."""
    services.deliveries_send_due()


@shared_task(ignore_result=True, expires=3600)
def prune() -> None:
    """Events and delivery logs past the outbox retention, once every delivery of them is finished."""
    services.events_prune(now=timezone.now())
