"""Input and output shapes for organisations, members, invitations, applications, subscriptions and the audit log.

Output serializers name every field they expose; input serializers are StrictSerializers, so a key they do not
declare (`status`, `organisation`, `is_staff` …) is a 400 rather than silently ignored or, worse, assigned.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from foundation.api.base import (
    NameSerializerField,
    StrictCharField,
    StrictEmailField,
    StrictIntegerField,
    StrictSerializer,
)
from foundation.validators import validate_no_control_chars
from portal.models import Invitation, Organisation, Plan, Role, Subscription

MAX_ID = 2**63 - 1


def name_field(max_length: int = 100, **kwargs: Any) -> serializers.CharField:
    """A user-chosen name, held to the one rule for names (foundation.validators.validate_name)."""
    return NameSerializerField(max_length=max_length, **kwargs)


def id_field(**kwargs: Any) -> serializers.IntegerField:
    return StrictIntegerField(min_value=1, max_value=MAX_ID, **kwargs)


# --- Organisations and members ---------------------------------------------------------------------------------


class OrganisationSerializer(serializers.Serializer):
    """An organisation as one of its members sees it, with that member's role (rendered from the Membership)."""

    id = serializers.IntegerField(source="organisation.id")
    name = serializers.CharField(source="organisation.name")
    is_personal = serializers.BooleanField(source="organisation.is_personal")
    status = serializers.ChoiceField(source="organisation.status", choices=Organisation.Status.choices)
    created_at = serializers.DateTimeField(source="organisation.created_at")
    role = serializers.ChoiceField(choices=Role.choices, help_text="Your role in this organisation.")


class OrganisationCreateSerializer(StrictSerializer):
    name = name_field()


class OrganisationRenameSerializer(StrictSerializer):
    name = name_field()


class UserSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.EmailField()


class MemberSerializer(serializers.Serializer):
    """A membership: who, with which role, since when. `id` is the membership id used in member URLs."""

    id = serializers.IntegerField()
    user = UserSummarySerializer()
    role = serializers.ChoiceField(choices=Role.choices)
    created_at = serializers.DateTimeField()


class MemberRoleSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices)
    invited_by = serializers.EmailField(source="invited_by.email", allow_null=True)
    state = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    accepted_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(serializers.ChoiceField(choices=["open", "accepted", "revoked", "expired"]))
    def get_state(self, invitation: Invitation) -> str:
        if invitation.accepted_at is not None:
            return "accepted"
        if invitation.revoked_at is not None:
            return "revoked"
        return "open" if invitation.is_open_at(timezone.now()) else "expired"


class InvitationCreateSerializer(StrictSerializer):
    email = StrictEmailField(max_length=254)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)


# --- Applications and subscriptions ----------------------------------------------------------------------------


class ApplicationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    organisation = serializers.IntegerField(source="organisation_id")
    name = serializers.CharField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()


class ApplicationCreateSerializer(StrictSerializer):
    name = name_field()
    description = StrictCharField(
        max_length=2000, required=False, default="", allow_blank=True, validators=[validate_no_control_chars]
    )


class ApplicationUpdateSerializer(StrictSerializer):
    """Partial update: omitted fields keep their value."""

    name = name_field(required=False)
    description = StrictCharField(
        max_length=2000, required=False, allow_blank=True, validators=[validate_no_control_chars]
    )


class PlanSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()


class SubscriptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    application = serializers.IntegerField(source="application_id")
    api = serializers.CharField(source="api.slug", help_text="Slug of the subscribed API.")
    plan = PlanSummarySerializer()
    status = serializers.ChoiceField(choices=Subscription.Status.choices)
    created_at = serializers.DateTimeField()
    activated_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)
    blocked_until = serializers.DateTimeField(allow_null=True, help_text="Set while a quota blocks traffic.")
    blocked_reason = serializers.CharField()
    state = serializers.SerializerMethodField(
        help_text="What applies now: `blocked` while a quota blocks an active subscription, else the status."
    )
    state_description = serializers.SerializerMethodField(
        help_text='The state in words, e.g. "Blocked until 00:00 UTC — daily quota used up".'
    )
    requested_plan = PlanSummarySerializer(
        allow_null=True, help_text="A plan change waiting for staff approval; `plan` serves traffic until then."
    )
    plan_requested_at = serializers.DateTimeField(allow_null=True)

    def get_state(self, subscription: Subscription) -> str:
        return subscription.state_at(timezone.now())

    def get_state_description(self, subscription: Subscription) -> str:
        return subscription.state_description_at(timezone.now())


class SubscriptionCreateSerializer(StrictSerializer):
    plan = id_field(help_text="Id of an offered plan (see /apis/{slug}/); the plan determines the API.")


class SubscriptionChangePlanSerializer(StrictSerializer):
    plan = id_field(help_text="Id of another plan of the same API.")


# --- Audit log ---------------------------------------------------------------------------------------------------


class AuditEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    action = serializers.CharField()
    actor = serializers.CharField(source="actor_label", help_text="Email of the acting user; empty for the system.")
    target_type = serializers.CharField()
    target_id = serializers.CharField()
    target_label = serializers.CharField()
    ip_address = serializers.IPAddressField(allow_null=True)
    user_agent = serializers.CharField()
    data = serializers.DictField(help_text="Event details; never contains secrets.")  # type: ignore[assignment]


# --- Catalog -------------------------------------------------------------------------------------------------------


class PlanSerializer(serializers.Serializer):
    """A plan as developers compare them; empty limits mean unlimited."""

    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    price_label = serializers.CharField()
    requires_approval = serializers.BooleanField()
    rate_per_second = serializers.IntegerField(allow_null=True)
    rate_per_minute = serializers.IntegerField(allow_null=True)
    quota_per_day = serializers.IntegerField(allow_null=True)
    quota_per_month = serializers.IntegerField(allow_null=True)
    quota_scope = serializers.ChoiceField(
        choices=Plan.QuotaScope.choices,
        help_text="`organisation`: one quota shared by all the organisation's applications.",
    )
    rate_scope = serializers.ChoiceField(
        choices=Plan.RateScope.choices,
        help_text="`organisation`: one rate limit shared by all the organisation's keys.",
    )
    sharing = serializers.CharField(source="sharing_in_words", help_text="Who shares the counters, in words.")


class ApiSerializer(serializers.Serializer):
    """A published API as the catalog shows it: how to call it, not where it is hosted (no upstream, no timeouts)."""

    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    version = serializers.CharField()
    description = serializers.CharField()
    path_prefix = serializers.CharField()
    host = serializers.CharField()
    methods = serializers.ListField(child=serializers.CharField())
    key_header = serializers.CharField(help_text="Header the gateway reads the API key from.")
    allow_query_key = serializers.BooleanField()
    max_body_bytes = serializers.IntegerField()
    has_openapi = serializers.BooleanField(help_text="Whether /apis/{slug}/openapi/ has a document.")
    plans = PlanSerializer(source="offered_plans", many=True)


class PlanColumnSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    price_label = serializers.CharField()
    requires_approval = serializers.BooleanField()


class PlanComparisonRowSerializer(serializers.Serializer):
    feature = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    values = serializers.ListField(
        child=serializers.IntegerField(allow_null=True),
        help_text="One value per plan, in `plans` order; null = unlimited.",
    )


class PlanComparisonSerializer(serializers.Serializer):
    """The plan table: plans as columns, limits as rows."""

    api = serializers.CharField(help_text="Slug of the API.")
    plans = PlanColumnSerializer(many=True)
    rows = PlanComparisonRowSerializer(many=True)
