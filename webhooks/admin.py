"""Read-only admin for webhooks: staff see endpoints and the delivery log, never a signing secret; changes go
through the portal or REST API (the services)."""

from __future__ import annotations

from django.contrib import admin

from foundation.admin import ReadOnlyAdmin
from webhooks.models import Delivery, Endpoint


@admin.register(Endpoint)
class EndpointAdmin(ReadOnlyAdmin):
    list_display = ["url", "organisation", "is_active", "failing_since", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "organisation__name"]
    list_select_related = ["organisation"]
    fields = ["organisation", "url", "description", "event_types", "is_active", "disabled_reason", "failing_since"]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["event", "endpoint", "status", "attempts", "next_attempt_at", "created_at"]
    list_filter = ["status"]
    list_select_related = ["event", "endpoint"]
    fields = ["event", "endpoint", "status", "attempts", "next_attempt_at", "retry_until", "created_at"]
