"""Reads scoped to the requesting user's organisations: a foreign or unknown id is NotFound (404), never 403."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet

from foundation.errors import NotFound
from foundation.ids import as_object_id
from webhooks.models import Delivery, Endpoint


def endpoints_of(organisation_id: int) -> QuerySet[Endpoint]:
    return Endpoint.objects.filter(organisation_id=organisation_id).order_by("-created_at", "-id")


def endpoint_get(*, user: Any, endpoint_id: Any) -> Endpoint:
    try:
        return (
            Endpoint.objects.filter(organisation__memberships__user=user)
            .select_related("organisation")
            .get(pk=as_object_id(endpoint_id))
        )
    except Endpoint.DoesNotExist:
        raise NotFound("Webhook endpoint not found.") from None


def deliveries_of(endpoint: Endpoint) -> QuerySet[Delivery]:
    """The delivery log of an endpoint, newest first, each with its attempts."""
    return (
        Delivery.objects.filter(endpoint=endpoint)
        .select_related("event")
        .prefetch_related("attempt_log")
        .annotate(attempt_count=Count("attempt_log"))
        .order_by("-created_at", "-id")
    )


def delivery_get(*, user: Any, delivery_id: Any) -> Delivery:
    try:
        return (
            Delivery.objects.filter(endpoint__organisation__memberships__user=user)
            .select_related("event", "endpoint__organisation")
            .get(pk=as_object_id(delivery_id))
        )
    except Delivery.DoesNotExist:
        raise NotFound("Webhook delivery not found.") from None
