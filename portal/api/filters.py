"""Query-string filters for list endpoints (django-filter); invalid values are a 400, unknown keys are ignored."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils import timezone
from django_filters import rest_framework as filters

from foundation.api.filters import BoundedDateTimeFilter, IdFilter, StrictFilterSet
from foundation.models import AuditEvent
from portal.models import Application, Invitation, Subscription


class ApplicationFilter(StrictFilterSet):
    organisation = IdFilter(field_name="organisation_id", help_text="Only this organisation's.")

    class Meta:
        model = Application
        fields = ["organisation"]


class SubscriptionFilter(StrictFilterSet):
    api = filters.CharFilter(field_name="api__slug", max_length=60, help_text="API slug.")
    application = IdFilter(field_name="application_id", help_text="Only this application's.")
    status = filters.MultipleChoiceFilter(choices=Subscription.Status.choices)

    class Meta:
        model = Subscription
        fields = ["api", "application", "status"]


class InvitationFilter(StrictFilterSet):
    state = filters.ChoiceFilter(
        choices=[(state, state) for state in ("open", "accepted", "revoked", "expired")], method="filter_state"
    )

    class Meta:
        model = Invitation
        fields = ["state"]

    def filter_state(self, queryset: QuerySet[Invitation], name: str, value: str) -> QuerySet[Invitation]:
        """Mirror of InvitationSerializer.get_state, as a query."""
        now = timezone.now()
        pending = Q(accepted_at__isnull=True, revoked_at__isnull=True)
        conditions = {
            "accepted": Q(accepted_at__isnull=False),
            "revoked": Q(accepted_at__isnull=True, revoked_at__isnull=False),
            "open": pending & Q(expires_at__gt=now),
            "expired": pending & Q(expires_at__lte=now),
        }
        return queryset.filter(conditions[value])


class AuditEventFilter(StrictFilterSet):
    action = filters.CharFilter(max_length=60, help_text="Exact action, e.g. `key.revoked`.")
    category = filters.CharFilter(
        method="filter_category", max_length=40, help_text="Action family, e.g. `key` for every `key.*` event."
    )
    since = BoundedDateTimeFilter(field_name="created_at", lookup_expr="gte", help_text="From this moment (inclusive).")
    until = BoundedDateTimeFilter(field_name="created_at", lookup_expr="lt", help_text="Before this moment.")

    class Meta:
        model = AuditEvent
        fields = ["action", "category", "since", "until"]

    def filter_category(self, queryset: QuerySet[AuditEvent], name: str, value: str) -> QuerySet[AuditEvent]:
        return queryset.filter(action__startswith=f"{value}.")
