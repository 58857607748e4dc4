"""Shapes of API keys and personal access tokens. No output serializer has a field for a secret or a digest:
the one-time secret travels beside the object (`{"secret": …, "key": {…}}`), only in create and rotate responses.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from foundation.api.base import BoundedDateTimeField, StrictCharField, StrictSerializer, StrictSlugField
from keys.models import ApiKey, PersonalAccessToken
from keys.services import MAX_CIDRS, ROTATION_GRACE_CHOICES
from portal.api.serializers import name_field
from portal.models import Api
from portal.selectors import apis_visible_to

KEY_STATES = ["active", "grace", "expired", "revoked"]
TOKEN_STATES = ["active", "expired", "revoked"]


class ApiKeySerializer(serializers.Serializer):
    """A key as listed: recognisable by prefix and last four characters, never readable."""

    id = serializers.IntegerField()
    application = serializers.IntegerField(source="application_id")
    name = serializers.CharField()
    environment = serializers.ChoiceField(choices=ApiKey.Environment.choices)
    prefix = serializers.CharField()
    last4 = serializers.CharField()
    masked = serializers.CharField(help_text="Prefix and last four characters, for display.")
    status = serializers.ChoiceField(choices=ApiKey.Status.choices)
    state = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True, help_text="After rotation: the end of the grace period.")
    revoked_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    allowed_cidrs = serializers.ListField(child=serializers.CharField(), help_text="Empty means any address.")
    apis = serializers.SerializerMethodField(help_text="API slugs; empty means every subscribed API.")
    replaced_by = serializers.IntegerField(
        source="replaced_by_id", allow_null=True, help_text="Successor after rotation."
    )

    @extend_schema_field(serializers.ChoiceField(choices=KEY_STATES))
    def get_state(self, key: ApiKey) -> str:
        """`grace`: rotated, still accepted until `expires_at`."""
        return key.state_at(self.context.get("now") or timezone.now())

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_apis(self, key: ApiKey) -> list[str]:
        return [api.slug for api in key.apis.all()]  # prefetched by the views


class IssuedApiKeySerializer(serializers.Serializer):
    """The only response that contains a key's secret; store it now, it cannot be shown again."""

    secret = serializers.CharField(help_text="The API key. Shown once.")
    key = ApiKeySerializer()


class RotatedApiKeySerializer(IssuedApiKeySerializer):
    previous = ApiKeySerializer(help_text="The rotated key, in `grace` until its `expires_at` (or revoked at once).")


def _api_slugs_field() -> serializers.ListField:
    return serializers.ListField(
        child=StrictSlugField(max_length=60),
        max_length=50,
        required=False,
        help_text="Slugs of subscribed APIs the key is limited to; empty means all of them.",
    )


def _cidrs_field() -> serializers.ListField:
    return serializers.ListField(
        child=StrictCharField(max_length=64),
        max_length=MAX_CIDRS,
        required=False,
        help_text="IPv4/IPv6 addresses or CIDR ranges the key may be used from; empty means any.",
    )


class _ScopedApisMixin:
    """Resolve `apis` slugs to APIs the requester can see; an unknown slug is a field error."""

    context: dict[str, Any]

    def validate_apis(self, slugs: list[str]) -> list[Api]:
        wanted = list(dict.fromkeys(slugs))
        found = {api.slug: api for api in apis_visible_to(self.context["request"].user).filter(slug__in=wanted)}
        missing = [slug for slug in wanted if slug not in found]
        if missing:
            raise serializers.ValidationError(f"Unknown API: {', '.join(missing[:10])}.")
        return [found[slug] for slug in wanted]


class ApiKeyCreateSerializer(_ScopedApisMixin, StrictSerializer):
    name = name_field()
    environment = serializers.ChoiceField(choices=ApiKey.Environment.choices, default=ApiKey.Environment.LIVE)
    expires_at = BoundedDateTimeField(required=False, allow_null=True, default=None)
    allowed_cidrs = _cidrs_field()
    apis = _api_slugs_field()


class ApiKeyUpdateSerializer(_ScopedApisMixin, StrictSerializer):
    """Partial update: omitted fields keep their value; the secret never changes (rotate for that)."""

    name = name_field(required=False)
    allowed_cidrs = _cidrs_field()
    apis = _api_slugs_field()


class ApiKeyRotateSerializer(StrictSerializer):
    grace = serializers.ChoiceField(
        choices=list(ROTATION_GRACE_CHOICES),
        help_text="How long the old key keeps working: `now` revokes it at once.",
    )
    name = name_field(required=False, help_text="Name of the new key; defaults to the old key's name.")


class AccessTokenSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    last4 = serializers.CharField()
    state = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(serializers.ChoiceField(choices=TOKEN_STATES))
    def get_state(self, token: PersonalAccessToken) -> str:
        if token.revoked_at is not None:
            return "revoked"
        return "active" if token.is_usable_at(timezone.now()) else "expired"


class IssuedAccessTokenSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="Use as `Authorization: Bearer <secret>`. Shown once.")
    token = AccessTokenSerializer()


class AccessTokenCreateSerializer(StrictSerializer):
    name = name_field()
    expires_at = BoundedDateTimeField(required=False, allow_null=True, default=None)
