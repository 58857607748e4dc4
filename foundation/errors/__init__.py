"""Every error Portico answers, in one package: what services raise, and how each kind of client is told.

- Here: `ApplicationError` and its subclasses, the only exceptions services raise for a refusal the user can fix,
  and RFC 9457 problem+json, the shape machines get (the REST API, the gateway feed, OAuth2, clients asking for
  JSON). People get short HTML pages. Neither ever sees a stack trace.
- `foundation.errors.api`: DRF's exception handler (ours and the framework's errors as problem+json).
- `foundation.errors.pages`: Django's handler400/403/404/500 and the 503 for a lost database connection.

This module imports only Django, so services, models and forms can raise these errors without loading DRF.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse

# --- What services raise ---------------------------------------------------------------------------------------


class ApplicationError(Exception):
    """A refusal the caller can explain to the user: a stable code, a safe message, an HTTP status."""

    status = 400
    code = "invalid"
    title = "Request refused"

    def __init__(self, message: str, *, field_errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}


class NotFound(ApplicationError):
    """Also used for objects of other organisations, so ids of foreign objects reveal nothing."""

    status = 404
    code = "not_found"
    title = "Not found"


class PermissionDenied(ApplicationError):
    """The caller is known to be a member, but their role does not allow the action."""

    status = 403
    code = "permission_denied"
    title = "Permission denied"


class Conflict(ApplicationError):
    """The request is valid but clashes with the current state (duplicates, ended objects)."""

    status = 409
    code = "conflict"
    title = "Conflict"


class LimitReached(ApplicationError):
    """A per-tenant resource cap (keys per application…) is reached."""

    status = 409
    code = "limit_reached"
    title = "Limit reached"


class ValidationFailed(ApplicationError):
    """Input a serializer or form could not judge alone (it needs the database or several fields)."""

    status = 400
    code = "validation_failed"
    title = "Invalid input"


# --- RFC 9457 problem details ----------------------------------------------------------------------------------

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://portico.dev/problems/"
MACHINE_PREFIXES = ("/api/", "/gateway/", "/o/", "/oauth/")


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
