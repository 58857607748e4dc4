"""The REST API's front door: what a first `curl /api/v1/` answers, so a new token has somewhere to go."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from foundation.api.base import PorticoAPIView

# Entry points a client can follow without knowing any id; everything else is linked from their answers.
ENTRY_POINTS = {
    "organisations": "portal_api:organisation-list",
    "applications": "portal_api:my-application-list",
    "apis": "portal_api:api-list",
    "access_tokens": "keys_api:access-token-list",
}


class ApiIndexView(PorticoAPIView):
    """Who the credentials belong to, the collections to start from, the schema and the docs."""

    permission_classes = (IsAuthenticated,)  # like every route: without credentials, a 401 that says why

    @extend_schema(
        operation_id="api_index",
        tags=["index"],
        responses=inline_serializer(
            "ApiIndex",
            {
                "authenticated_as": serializers.EmailField(),
                "resources": serializers.DictField(child=serializers.URLField()),
                "schema": serializers.URLField(),
                "docs": serializers.URLField(),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "authenticated_as": request.user.email,
                "resources": {name: reverse(route, request=request) for name, route in ENTRY_POINTS.items()},
                "schema": reverse("schema", request=request),
                "docs": reverse("api-docs", request=request),
            }
        )
