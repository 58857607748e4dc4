"""Developer-facing usage of an application: views only validate and translate."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from analytics import selectors
from analytics.api.serializers import (
    EndpointUsageSerializer,
    OrganisationUsageQuerySerializer,
    OrganisationUsageSerializer,
    RequestEventSerializer,
    RequestLogQuerySerializer,
    RequestLogSerializer,
    UsageQuerySerializer,
    UsageSerializer,
)
from analytics.selectors.endpoints import usage_by_operation
from analytics.selectors.environments import usage_by_environment
from analytics.selectors.organisation import usage_for_organisation
from foundation.api.schema import problem
from portal.api.permissions import ANY_MEMBER
from portal.api.scoped import OrganisationView
from portal.api.views.applications import ApplicationScopedView

USAGE = ["usage"]


def _usage_query(request: Request) -> tuple[dict[str, Any], dict[str, Any]]:
    """The validated window (granularity, start, end) and filters (API, key, client) of a usage query."""
    query = UsageQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    params = query.validated_data
    window = {name: params[name] for name in ("granularity", "start", "end")}
    return window, {"api_id": params.get("api"), "key_id": params.get("key"), "client_id": params.get("client")}


class ApplicationUsageView(ApplicationScopedView):
    """Requests, errors, bytes and latency percentiles over time, and quota use of each subscription."""

    required_roles = {"GET": ANY_MEMBER}

    @extend_schema(
        operation_id="applications_usage",
        tags=USAGE,
        parameters=[UsageQuerySerializer],
        responses={
            200: UsageSerializer,
            400: problem(
                "Invalid granularity, range or filter. Rules the schema cannot express: `from` must be before `to`; "
                "a range spans at most 1 day of minutes, 60 days of hours or 1,440 days; dates lie between "
                "1970-01-01 and 2999-12-31 (UTC); an empty value (`to=`) is refused."
            ),
        },
        description="Collected from the gateways every few seconds; ranges are capped per granularity.",
    )
    def get(self, request: Request, application_id: int) -> Response:
        application = self.get_object()
        window, narrowed = _usage_query(request)
        usage = selectors.usage_for_application(application=application, **window, **narrowed)
        return self.output(
            UsageSerializer,
            {
                "application": application.pk,
                **window,
                "series": usage.series,
                "totals": usage.totals,
                "by_status_class": usage.by_status_class,
                "by_environment": usage_by_environment(application=application, **window),
                "quotas": selectors.quota_states(application=application),
            },
        )


class ApplicationEndpointUsageView(ApplicationScopedView):
    """Requests, 4xx and 5xx answers, denials and latency percentiles of each API operation the application called."""

    required_roles = {"GET": ANY_MEMBER}

    @extend_schema(
        operation_id="applications_usage_endpoints",
        tags=USAGE,
        parameters=[UsageQuerySerializer],
        responses={
            200: EndpointUsageSerializer,
            400: problem("Invalid granularity, range or filter (the same rules as the application's usage)."),
        },
        description="Operations are matched at ingest against each API's OpenAPI paths (method and path template); "
        'requests matching none count under "other".',
    )
    def get(self, request: Request, application_id: int) -> Response:
        application = self.get_object()
        window, narrowed = _usage_query(request)
        operations = usage_by_operation(application=application, **window, **narrowed)
        return self.output(EndpointUsageSerializer, {"application": application.pk, **window, "results": operations})


class RequestLogView(ApplicationScopedView):
    """The application's recent requests as its gateways logged them, newest first, by keyset."""

    required_roles = {"GET": ANY_MEMBER}

    @extend_schema(
        operation_id="applications_requests_list",
        tags=USAGE,
        parameters=[RequestLogQuerySerializer],
        responses={
            200: RequestLogSerializer,
            400: problem("Invalid filter or cursor (a cursor is only valid as this log gave it); `from` before `to`."),
        },
        description="Raw requests are kept for the event retention (`retention_days`); collected every few seconds.",
    )
    def get(self, request: Request, application_id: int) -> Response:
        application = self.get_object()
        query = RequestLogQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = selectors.request_log_page(
            application=application,
            filters=query.filters(),
            cursor=query.validated_data.get("cursor"),
            size=query.validated_data["page_size"],
        )
        next_url = None
        if page.next_cursor:
            params = request.query_params.copy()
            params["cursor"] = page.next_cursor
            next_url = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
        return self.output(
            RequestLogSerializer,
            {
                "results": page.events,
                "next_cursor": page.next_cursor,
                "next": next_url,
                "retention_days": settings.PORTICO_USAGE_EVENT_RETENTION_DAYS,
            },
        )


class RequestDetailView(ApplicationScopedView):
    """One request of the application, by the request id its answer carried (X-Request-Id, problem `request_id`)."""

    required_roles = {"GET": ANY_MEMBER}

    @extend_schema(
        operation_id="applications_requests_retrieve",
        tags=USAGE,
        responses={200: RequestEventSerializer},
        description="The newest request with this id (a client may send its own X-Request-Id and reuse it).",
    )
    def get(self, request: Request, application_id: int, request_id: str) -> Response:
        application = self.get_object()
        event = selectors.request_event_get(application=application, request_id=request_id)
        return self.output(RequestEventSerializer, event)


class OrganisationUsageView(OrganisationView):
    """Usage of all the organisation's applications: series and totals, and each application's share."""

    required_roles = {"GET": ANY_MEMBER}

    @extend_schema(
        operation_id="organisations_usage",
        tags=USAGE,
        parameters=[OrganisationUsageQuerySerializer],
        responses={
            200: OrganisationUsageSerializer,
            400: problem("Invalid granularity or range (the same rules as an application's usage)."),
        },
        description="Deleted applications' traffic stays counted, under their id.",
    )
    def get(self, request: Request, organisation_id: int) -> Response:
        organisation = self.get_membership().organisation
        query = OrganisationUsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        found = usage_for_organisation(
            organisation=organisation, granularity=params["granularity"], start=params["start"], end=params["end"]
        )
        return self.output(
            OrganisationUsageSerializer,
            {
                "organisation": organisation.pk,
                "granularity": params["granularity"],
                "start": params["start"],
                "end": params["end"],
                "series": found.usage.series,
                "totals": found.usage.totals,
                "by_status_class": found.usage.by_status_class,
                "applications": found.applications,
            },
        )
