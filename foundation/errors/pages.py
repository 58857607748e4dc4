"""Error pages: Django's handler400/403/404/500, and a clean 503 when the database is unreachable.

problem+json for machines, short HTML pages for people, never a stack trace.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import is_valid_path

from foundation.errors import MACHINE_PREFIXES, problem_response, wants_problem_json

logger = structlog.get_logger(__name__)


def _error(request: HttpRequest, status: int, title: str, detail: str, code: str) -> HttpResponse:
    if wants_problem_json(request):
        return problem_response(status=status, title=title, detail=detail, code=code, instance=request.path)
    return render(request, "error.html", {"status": status, "title": title, "detail": detail}, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Bodies Django refuses to parse are the client's fault: 413 when too large, else 400."""
    if isinstance(exception, RequestDataTooBig):
        return _error(
            request, 413, "Request body too large", "The request body exceeds the allowed size.", "body_too_large"
        )
    if isinstance(exception, TooManyFieldsSent):
        return _error(request, 400, "Too many fields", "The request has too many fields.", "too_many_fields")
    return _error(request, 400, "Bad request", "The request could not be understood.", "bad_request")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 403 (CSRF failures included), without saying which check failed."""
    return _error(request, 403, "Permission denied", "You are not allowed to do that.", "permission_denied")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 404; the same answer for unknown routes and for other organisations' objects."""
    return _error(request, 404, "Not found", "There is nothing here.", "not_found")


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's 500: a generic message, the details stay in the server log."""
    if wants_problem_json(request):
        return problem_response(
            status=500, title="Internal error", detail="Something went wrong on our side.", code="internal_error"
        )
    return render(
        request,
        "error.html",
        {"status": 500, "title": "Something went wrong", "detail": "We have been notified. Please try again."},
        status=500,
    )


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
        response = render(request, "503.html", {"detail": detail}, status=503)
        response["Retry-After"] = "5"
        return response


def _looks_like_outage(exception: Exception) -> bool:
    """Connection-level failures only; a constraint or syntax error is a bug and must surface as such."""
    text = str(exception).lower()
    return any(
        marker in text
        for marker in ("connection", "could not connect", "server closed", "terminating", "database is locked")
    )


_TITLES = {400: "Bad request", 401: "Authentication required", 403: "Permission denied", 404: "Not found",
           405: "Method not allowed", 413: "Request body too large", 500: "Internal error"}  # fmt: skip


class MachinePathsMiddleware:
    """Machine paths (the REST API, the gateway feed, OAuth2) answer like an API in every mode.

    A request missing its trailing slash gets a 308 to the slashed URL, which keeps the method and the body
    (CommonMiddleware's 301 turns a POST into a GET, and with DEBUG on it raises instead); an HTML error page,
    Django's debug pages included, is replaced by problem+json. Outermost in MIDDLEWARE, so it sees every answer.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(MACHINE_PREFIXES):
            return self.get_response(request)
        if self._needs_slash(request):
            redirect = problem_response(
                status=308,
                title="Permanent redirect",
                detail="This URL ends with a slash; the request is repeated there with the same method and body.",
                code="trailing_slash",
                instance=request.path,
            )
            redirect["Location"] = request.get_full_path(force_append_slash=True)
            return redirect
        response = self.get_response(request)
        if response.status_code >= 400 and response.get("Content-Type", "").startswith("text/html"):
            status = response.status_code
            detail = "There is nothing here." if status == 404 else "The request could not be answered."
            problem = problem_response(
                status=status, title=_TITLES.get(status, "Error"), detail=detail, code=f"http_{status}"
            )
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    problem[header] = response[header]
            return problem
        return response

    @staticmethod
    def _needs_slash(request: HttpRequest) -> bool:
        urlconf = getattr(request, "urlconf", None)
        path = request.path_info
        return not path.endswith("/") and not is_valid_path(path, urlconf) and bool(is_valid_path(f"{path}/", urlconf))
