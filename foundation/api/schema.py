"""OpenAPI generation: every operation documents its RFC 9457 errors as application/problem+json."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from foundation.errors import PROBLEM_CONTENT_TYPE

_DESCRIPTIONS = {
    400: "Invalid input: malformed JSON, wrong types, unknown fields or values the rules refuse.",
    401: "No valid session or personal access token.",
    403: "Authenticated, but the role in this organisation does not allow it (or the CSRF token is missing).",
    404: "No such object in your organisations (or, for a list, a page past the last).",
    409: "The request conflicts with the current state (limits, duplicates, objects already ended or revoked).",
    413: "The request body is larger than the server accepts.",
    415: "The body is not application/json.",
    429: "Too many requests; retry after the number of seconds in `Retry-After`.",
}


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details, with `errors` holding field-level messages."""

    type = serializers.URLField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    instance = serializers.CharField(required=False)
    # DRF's metaclass pops declared fields, so this name does not shadow Serializer.errors at runtime.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


RETRY_AFTER = {"schema": {"type": "integer", "minimum": 1}, "description": "Seconds to wait before retrying."}

NO_STORE = OpenApiParameter(
    "Cache-Control",
    str,
    location=OpenApiParameter.HEADER,
    response=[201],
    description="Always `no-store`: the body holds a secret that no cache may keep.",
)


def problem(description: str) -> OpenApiResponse:
    """An extra error response for `extend_schema(responses=…)`; its media type is fixed up by the schema class."""
    return OpenApiResponse(ProblemSerializer, description=description)


class PorticoAutoSchema(AutoSchema):
    """Adds the errors every endpoint can answer, so clients see the problem+json shape everywhere."""

    def _standard_problem_statuses(self) -> list[int]:
        statuses = [401, 403, 429]
        if "{" in self.path:
            statuses.append(404)
        if self.method in ("POST", "PUT", "PATCH"):
            statuses += [400, 409, 413, 415]
        elif self.method == "DELETE":
            statuses.append(409)
        elif self.method == "GET" and self._is_list_view():
            statuses += [400, 404]  # filter values; a page past the last
        return statuses

    def _map_serializer(self, serializer: Any, direction: Any, bypass_extensions: bool = False) -> dict[str, Any]:
        component = super()._map_serializer(serializer, direction, bypass_extensions)
        # Input serializers that refuse unknown fields (StrictSerializer) say so in the schema.
        if direction == "request" and getattr(serializer, "rejects_unknown_fields", False):
            component["additionalProperties"] = False
        return component

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for status in self._standard_problem_statuses():
            responses.setdefault(str(status), {})
        for code, response in list(responses.items()):
            if int(code) < 400:
                continue
            documented = self._get_response_for_code(ProblemSerializer, code, [PROBLEM_CONTENT_TYPE], direction)
            documented["description"] = response.get("description") or _DESCRIPTIONS.get(int(code), "Error")
            if code == "429":
                documented["headers"] = {"Retry-After": RETRY_AFTER}
            responses[code] = documented
        return dict(sorted(responses.items()))
