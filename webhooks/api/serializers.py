"""Shapes of webhook endpoints and deliveries. No output has a field for a signing secret: the one-time secret
travels beside the endpoint (`{"secret": …, "endpoint": {…}}`), only in create and rotate responses."""

from __future__ import annotations

from rest_framework import serializers

from foundation.api.base import StrictCharField, StrictSerializer
from webhooks.models import SUBSCRIBABLE_EVENTS, Delivery, EventType

URL_HELP = "https:// URL of a public host (checked again at every delivery); http://127.0.0.1 only in development."


class _StrictBoolean(serializers.BooleanField):
    """`true`/`false`, not `"yes"` or `1`."""

    def to_internal_value(self, data: object) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


def _event_types(required: bool = True) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE_EVENTS), min_length=1, max_length=20, required=required
    )


class WebhookEndpointSerializer(serializers.Serializer):
    """An endpoint as listed; the secret is never readable."""

    id = serializers.IntegerField()
    url = serializers.CharField()
    description = serializers.CharField()
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=SUBSCRIBABLE_EVENTS))
    is_active = serializers.BooleanField()
    disabled_reason = serializers.CharField(help_text="Why it was disabled (e.g. failing for 24 hours).")
    failing_since = serializers.DateTimeField(allow_null=True)
    previous_secret_expires_at = serializers.DateTimeField(
        allow_null=True, help_text="After a rotation: the old secret also signs until then."
    )
    created_at = serializers.DateTimeField()


class IssuedWebhookEndpointSerializer(serializers.Serializer):
    """The only response that contains the signing secret; store it now, it cannot be shown again."""

    secret = serializers.CharField(help_text="`whsec_…`: the Standard Webhooks signing secret. Shown once.")
    endpoint = WebhookEndpointSerializer()


class WebhookEndpointCreateSerializer(StrictSerializer):
    url = StrictCharField(max_length=2000, help_text=URL_HELP)
    event_types = _event_types()
    description = StrictCharField(max_length=200, required=False, allow_blank=True, default="")


class WebhookEndpointUpdateSerializer(StrictSerializer):
    url = StrictCharField(max_length=2000, required=False, help_text=URL_HELP)
    event_types = _event_types(required=False)
    description = StrictCharField(max_length=200, required=False, allow_blank=True)
    is_active = _StrictBoolean(required=False, help_text="Enabling sends the deliveries that waited at once.")


class WebhookAttemptSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    duration_ms = serializers.IntegerField()
    request_body = serializers.CharField(help_text="The JSON sent (the same at every attempt).")
    response_status = serializers.IntegerField(allow_null=True)
    response_excerpt = serializers.CharField(help_text="The first 1 KiB of the answer.")
    error = serializers.CharField(help_text="Why no answer came (refused target, timeout…).")


class WebhookDeliverySerializer(serializers.Serializer):
    """One event on its way to the endpoint, with every attempt."""

    id = serializers.IntegerField()
    event_id = serializers.CharField(help_text="The `webhook-id` header: the same at every attempt.")
    event_type = serializers.ChoiceField(source="event.type", choices=EventType.choices)
    status = serializers.ChoiceField(choices=Delivery.Status.choices)
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    attempt_log = WebhookAttemptSerializer(many=True)
