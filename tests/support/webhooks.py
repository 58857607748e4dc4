"""A webhook endpoint with one logged delivery, for the suites that walk every id route."""

from __future__ import annotations

from typing import Any

from webhooks import services


def endpoint_with_delivery(membership: Any) -> dict[str, int]:
    """Ids for `endpoint_id` and `delivery_id` route parameters, in the membership's organisation."""
    endpoint, _ = services.endpoint_create(
        membership=membership, url="https://hooks.example.com/portico", event_types=["key.created"]
    )
    delivery = services.endpoint_send_test(membership=membership, endpoint=endpoint)
    return {"endpoint_id": endpoint.pk, "delivery_id": delivery.pk}
