"""The outbox: an event and its deliveries are written in the transaction of the change they describe, and a
worker is asked to send them once that transaction commits. The periodic `send_due` task picks up anything a
lost enqueue left behind, so an event is created exactly once and delivered at least once."""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app
from django.db import transaction
from django.utils import timezone

from webhooks.models import Delivery, Endpoint, Event

logger = logging.getLogger(__name__)

DELIVER_TASK = "webhooks.tasks.deliver"


def event_record(*, event_type: str, organisation_id: int, data: dict[str, Any]) -> Event | None:
    """Store the event and one due delivery per active endpoint that wants it; nothing when none does."""
    endpoints = [
        endpoint
        for endpoint in Endpoint.objects.filter(organisation_id=organisation_id, is_active=True)
        if endpoint.wants(event_type)
    ]
    if not endpoints:
        return None
    event = Event.objects.create(organisation_id=organisation_id, type=event_type, data=data)
    deliveries_create(event, endpoints)
    return event


def deliveries_create(event: Event, endpoints: list[Endpoint]) -> list[Delivery]:
    now = timezone.now()
    deliveries = Delivery.objects.bulk_create(
        [Delivery(event=event, endpoint=endpoint, next_attempt_at=now) for endpoint in endpoints]
    )
    ids = [delivery.pk for delivery in deliveries]
    transaction.on_commit(lambda: enqueue(ids), robust=True)
    return deliveries


def enqueue(delivery_ids: list[int]) -> None:
    """Ask a worker to send now; with the broker down the periodic task sends them a little later."""
    for delivery_id in delivery_ids:
        try:
            current_app.send_task(DELIVER_TASK, args=[delivery_id], retry=False)
        except Exception as error:  # noqa: BLE001 - any broker failure; its text may hold the broker URL
            logger.warning(
                "could not enqueue webhook delivery (%s); the periodic task will send it", type(error).__name__
            )
            return
