"""Shapes of OAuth clients. As for keys, no output field holds a secret or a digest: the one-time secret travels
beside the client (`{"client_secret": …, "client": {…}}`), only in create and rotate responses."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from foundation.api.base import StrictSerializer
from keys.models import ApiKey, OAuthClient
from keys.services import ROTATION_GRACE_CHOICES
from portal.api.serializers import name_field

CLIENT_STATES = ["active", "grace", "revoked"]


class OAuthClientSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    application = serializers.IntegerField(source="application_id")
    name = serializers.CharField()
    client_id = serializers.CharField(help_text="Public identifier, used with the secret at /oauth/token.")
    environment = serializers.CharField(help_text="`live` or `test` (issue #15: test tokens reach sandboxes).")
    secret_masked = serializers.CharField(source="masked_secret", help_text="Prefix and last four characters.")
    state = serializers.SerializerMethodField()
    previous_secret_expires_at = serializers.DateTimeField(
        allow_null=True, help_text="After a rotation with a grace period: when the previous secret stops working."
    )
    created_at = serializers.DateTimeField()
    rotated_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(serializers.ChoiceField(choices=CLIENT_STATES))
    def get_state(self, client: OAuthClient) -> str:
        """`grace`: rotated, the previous secret is still accepted until `previous_secret_expires_at`."""
        return client.state_at(timezone.now())


class IssuedOAuthClientSerializer(serializers.Serializer):
    """The only responses that contain a client secret; store it now, it cannot be shown again."""

    client_secret = serializers.CharField(help_text="Shown once.")
    client = OAuthClientSerializer()


class OAuthClientCreateSerializer(StrictSerializer):
    name = name_field()
    environment = serializers.ChoiceField(
        choices=ApiKey.Environment.choices,
        default=ApiKey.Environment.LIVE,
        help_text="`test`: the client's tokens go to the APIs' sandboxes, on test limits, never the live quota.",
    )


class OAuthClientRotateSerializer(StrictSerializer):
    grace = serializers.ChoiceField(
        choices=list(ROTATION_GRACE_CHOICES),
        help_text="How long the current secret keeps working: `now` ends it at once.",
    )
