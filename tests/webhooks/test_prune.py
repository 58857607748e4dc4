"""Retention of the webhook outbox: finished events past PORTICO_OUTBOX_RETENTION_DAYS go with their deliveries and
attempt logs; an event with a delivery still pending (a disabled endpoint's backlog) and recent events stay."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from webhooks import outbox, services
from webhooks.models import Attempt, Delivery, Event
from webhooks.tasks import prune


def _event(endpoints: int, age_days: int, statuses: list[str]) -> Event:
    event = outbox.event_record(event_type="key.created", organisation_id=endpoints, data={"key": {"id": 1}})
    assert event is not None
    Event.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(days=age_days))
    for delivery, status in zip(event.deliveries.order_by("pk"), statuses, strict=True):
        Delivery.objects.filter(pk=delivery.pk).update(status=status)
        Attempt.objects.create(delivery=delivery, number=1, request_body="{}", response_status=200)
    return event


def test_finished_events_past_the_retention_are_deleted_with_their_logs(org: Any, alice: Any, settings: Any) -> None:
    membership = org.memberships.get(user=alice)
    for n in range(2):
        services.endpoint_create(
            membership=membership, url=f"https://hooks.example.com/{n}", event_types=["key.created"]
        )
    days = settings.PORTICO_OUTBOX_RETENTION_DAYS
    finished = _event(org.pk, days + 1, ["succeeded", "failed"])
    waiting = _event(org.pk, days + 1, ["succeeded", "pending"])
    recent = _event(org.pk, days - 1, ["succeeded", "succeeded"])

    prune()

    assert set(Event.objects.values_list("pk", flat=True)) == {waiting.pk, recent.pk}
    assert not Delivery.objects.filter(event_id=finished.pk).exists()
    assert Attempt.objects.count() == 4
    assert services.events_prune(now=timezone.now()) == 0  # a second run finds nothing
