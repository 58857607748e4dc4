"""Request-wide concerns: audit context and a clean 503 when the database is down."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

from portal.audit import current_request_context, request_context
from portal.problems import problem_response, wants_problem_json

logger = structlog.get_logger(__name__)


class AuditContextMiddleware:
    """Expose the client IP and user agent to services for the audit trail."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = current_request_context.set(request_context(request))
        try:
            return self.get_response(request)
        finally:
            current_request_context.reset(token)


class DatabaseUnavailableMiddleware:
    """Answer a generic 503 (problem+json for the API, a plain page otherwise) when PostgreSQL is unreachable."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError) or not _looks_like_outage(exception):
            return None
        logger.error("database_unavailable", error_class=type(exception).__name__)
        detail = "The service is temporarily unavailable. Please try again shortly."
        if wants_problem_json(request):
            return problem_response(status=503, title="Service unavailable", detail=detail, code="unavailable")
        from django.shortcuts import render

        response = render(request, "503.html", {"detail": detail}, status=503)
        response["Retry-After"] = "5"
        return response


def _looks_like_outage(exception: DatabaseError) -> bool:
    """Connection-level failures only; a constraint or syntax error is a bug and must surface as such."""
    text = str(exception).lower()
    return any(
        marker in text
        for marker in ("connection", "could not connect", "server closed", "terminating", "database is locked")
    )
