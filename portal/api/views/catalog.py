"""The API catalog, read-only: published APIs with their offered plans, plan comparison and OpenAPI documents."""

from __future__ import annotations

from typing import Any

from django.db.models import BooleanField, ExpressionWrapper, Prefetch, Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from foundation.api.base import PorticoAPIView
from foundation.errors import NotFound
from portal import selectors
from portal.api.serializers import ApiSerializer, PlanComparisonSerializer
from portal.models import Api, Plan

CATALOG = ["catalog"]
COMPARED_LIMITS = [
    ("rate_per_second", "Requests per second"),
    ("rate_per_minute", "Requests per minute"),
    ("quota_per_day", "Requests per day"),
    ("quota_per_month", "Requests per month"),
]


def _offered_plans() -> Prefetch:
    return Prefetch(
        "plans", queryset=Plan.objects.filter(is_public=True).order_by("display_order", "id"), to_attr="offered_plans"
    )


def _catalog(user: Any) -> QuerySet[Api]:
    """Visible APIs without their (possibly large) OpenAPI documents, with offered plans in one extra query."""
    return (
        selectors.apis_visible_to(user)
        .defer("openapi_document")
        .annotate(has_openapi=ExpressionWrapper(Q(openapi_document__isnull=False), output_field=BooleanField()))
        .prefetch_related(_offered_plans())
    )


class CatalogView(PorticoAPIView):
    """Base of the catalog: anyone signed in reads the APIs visible to them."""

    permission_classes = (IsAuthenticated,)

    def api(self) -> Api:
        try:
            return _catalog(self.request.user).get(slug=self.kwargs["slug"])
        except Api.DoesNotExist:
            raise NotFound("API not found.") from None


class ApiListView(CatalogView):
    def get_queryset(self) -> QuerySet[Api]:
        if self.is_schema_generation():
            return Api.objects.none()
        return _catalog(self.request.user)

    @extend_schema(operation_id="apis_list", tags=CATALOG, responses=ApiSerializer(many=True))
    def get(self, request: Request) -> Response:
        return self.page(self.get_queryset(), ApiSerializer)


class ApiDetailView(CatalogView):
    @extend_schema(operation_id="apis_retrieve", tags=CATALOG, responses=ApiSerializer)
    def get(self, request: Request, slug: str) -> Response:
        return self.output(ApiSerializer, self.api())


class PlanComparisonView(CatalogView):
    """The data behind the plan comparison table, so clients need not pivot the plans themselves."""

    @extend_schema(operation_id="apis_plan_comparison", tags=CATALOG, responses=PlanComparisonSerializer)
    def get(self, request: Request, slug: str) -> Response:
        api = self.api()
        plans: list[Plan] = api.offered_plans  # type: ignore[attr-defined]
        rows = [
            {"feature": field, "label": label, "values": [getattr(plan, field) for plan in plans]}
            for field, label in COMPARED_LIMITS
        ]
        return self.output(PlanComparisonSerializer, {"api": api.slug, "plans": plans, "rows": rows})


class ApiOpenApiView(CatalogView):
    """The API's own OpenAPI document, as its publisher uploaded it."""

    @extend_schema(operation_id="apis_openapi", tags=CATALOG, responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, slug: str) -> Response:
        found = selectors.apis_visible_to(request.user).filter(slug=slug).values_list("pk", "openapi_document").first()
        if found is None:
            raise NotFound("API not found.")
        if found[1] is None:
            raise NotFound("This API has no OpenAPI document.")
        return Response(found[1])
