"""Query-string filters for key lists."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils import timezone
from django_filters import rest_framework as filters

from foundation.api.filters import StrictFilterSet
from keys.api.serializers import KEY_STATES
from keys.models import ApiKey


class ApiKeyFilter(StrictFilterSet):
    status = filters.ChoiceFilter(choices=ApiKey.Status.choices)
    environment = filters.ChoiceFilter(choices=ApiKey.Environment.choices)
    state = filters.ChoiceFilter(
        choices=[(state, state) for state in KEY_STATES], method="filter_state", help_text="As shown in `state`."
    )

    class Meta:
        model = ApiKey
        fields = ["status", "environment", "state"]

    def filter_state(self, queryset: QuerySet[ApiKey], name: str, value: str) -> QuerySet[ApiKey]:
        """Mirror of ApiKey.state_at as a query."""
        now = timezone.now()
        usable = Q(status=ApiKey.Status.ACTIVE) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        conditions = {
            "revoked": Q(status=ApiKey.Status.REVOKED),
            "expired": Q(status=ApiKey.Status.ACTIVE, expires_at__lte=now),
            "grace": usable & Q(replaced_by__isnull=False),
            "active": usable & Q(replaced_by__isnull=True),
        }
        return queryset.filter(conditions[value])
