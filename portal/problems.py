"""RFC 9457 problem details: one shape for every machine-facing error."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://portico.dev/problems/"
MACHINE_PREFIXES = ("/api/", "/gateway/", "/o/")


def problem_type(code: str) -> str:
    """A stable URI per cause, so clients can branch on `type` rather than on prose."""
    return f"{PROBLEM_TYPE_BASE}{code.replace('_', '-')}"


def problem_response(
    *,
    status: int,
    title: str,
    detail: str,
    code: str,
    errors: dict[str, Any] | None = None,
    instance: str | None = None,
) -> JsonResponse:
    """A problem+json response; `errors` holds field-level messages keyed by field name."""
    body: dict[str, Any] = {"type": problem_type(code), "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    return JsonResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE)


def wants_problem_json(request: HttpRequest) -> bool:
    """Machine endpoints and clients that ask for JSON get problem+json; browsers get HTML pages."""
    accept = request.headers.get("Accept", "")
    return request.path.startswith(MACHINE_PREFIXES) or ("json" in accept and "text/html" not in accept)
