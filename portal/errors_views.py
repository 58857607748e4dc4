"""Error pages: problem+json for machines, short HTML pages for people, never a stack trace."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from portal.problems import problem_response, wants_problem_json


def _error(request: HttpRequest, status: int, title: str, detail: str, code: str) -> HttpResponse:
    if wants_problem_json(request):
        return problem_response(status=status, title=title, detail=detail, code=code, instance=request.path)
    return render(request, "error.html", {"status": status, "title": title, "detail": detail}, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent

    if isinstance(exception, RequestDataTooBig):
        return _error(
            request, 413, "Request body too large", "The request body exceeds the allowed size.", "body_too_large"
        )
    if isinstance(exception, TooManyFieldsSent):
        return _error(request, 400, "Too many fields", "The request has too many fields.", "too_many_fields")
    return _error(request, 400, "Bad request", "The request could not be understood.", "bad_request")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 403, "Permission denied", "You are not allowed to do that.", "permission_denied")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 404, "Not found", "There is nothing here.", "not_found")


def server_error(request: HttpRequest) -> HttpResponse:
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


def liveness(request: HttpRequest) -> JsonResponse:
    """The process is up and serving; readiness (/readyz) checks dependencies."""
    return JsonResponse({"status": "ok"})
