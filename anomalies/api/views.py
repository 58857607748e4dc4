"""Developer-facing anomaly flags of an application: read-only, scoped like the application's other endpoints."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from anomalies.api.serializers import FlagSerializer
from anomalies.models import Flag
from anomalies.selectors import application_flags
from portal.api.permissions import ANY_MEMBER
from portal.api.views.applications import ApplicationScopedView


class ApplicationFlagListView(ApplicationScopedView):
    """The application's anomaly flags, newest hour first: at most one per key and hour."""

    required_roles = {"GET": ANY_MEMBER}

    def get_queryset(self) -> QuerySet[Flag]:
        if self.is_schema_generation():
            return Flag.objects.none()
        return application_flags(application=self.get_object())

    @extend_schema(
        operation_id="applications_anomalies_list",
        tags=["usage"],
        responses=FlagSerializer(many=True),
        description="Raised by the hourly detection over collected usage; also sent as `usage.anomaly` webhooks.",
    )
    def get(self, request: Request, application_id: int) -> Response:
        return self.page(self.get_queryset(), FlagSerializer)
