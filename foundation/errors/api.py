"""DRF's exception handler: every error, ours or the framework's, as problem+json with field errors."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.views import set_rollback

from foundation.errors import ApplicationError, problem_response

_TITLES = {
    400: "Invalid input",
    401: "Authentication required",
    403: "Permission denied",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    413: "Request body too large",
    415: "Unsupported media type",
    429: "Too many requests",
}


class RequestBodyTooLarge(exceptions.APIException):
    """Django refuses to buffer a body over DATA_UPLOAD_MAX_MEMORY_SIZE; DRF lets that escape as a non-API error."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body exceeds the allowed size."
    default_code = "body_too_large"


def _flatten(detail: Any) -> Any:
    """DRF's ErrorDetail trees as plain lists/dicts of strings."""
    if isinstance(detail, dict):
        return {str(key): _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def field_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's error tree as one level, as the schema promises: `{"field": ["message", …]}`. A list's items keep
    their field's name, each message saying which item (`"Item 2: Not an IP range."`); a nested object's fields
    are keyed by their path (`limits.rate`)."""
    if isinstance(detail, dict) and prefix and all(str(key).isdigit() for key in detail):
        return {prefix: [f"Item {key}: {message}" for key, value in detail.items() for message in _messages(value)]}
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            flat.update(field_errors(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix or "non_field_errors": _messages(detail)}


def _messages(detail: Any) -> list[str]:
    """Every message in an error subtree, as plain strings."""
    if isinstance(detail, dict):
        return [message for value in detail.values() for message in _messages(value)]
    if isinstance(detail, list):
        return [message for item in detail for message in _messages(item)]
    return [str(detail)]


def _translate(exc: Exception) -> Exception:
    """Django-level exceptions that can surface inside a DRF view, as their API equivalents."""
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, RequestDataTooBig):
        return RequestBodyTooLarge()
    if isinstance(exc, TooManyFieldsSent):
        return exceptions.ParseError("The request has too many fields.")
    if isinstance(exc, DjangoValidationError):
        # A model's full_clean() in a service: the serializer should have caught it, but it is still the client's 400.
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return exceptions.ValidationError(detail)
    return exc


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> JsonResponse | None:
    """Map ApplicationError and DRF/Django exceptions to RFC 9457 responses; anything else stays a 500."""
    request = context.get("request")
    instance = request.path if request is not None else None
    if isinstance(exc, ApplicationError):
        set_rollback()
        return problem_response(
            status=exc.status,
            title=exc.title,
            detail=exc.message,
            code=exc.code,
            errors=exc.field_errors or None,
            instance=instance,
        )
    exc = _translate(exc)
    if not isinstance(exc, exceptions.APIException):
        return None
    set_rollback()
    code = exc.default_code if isinstance(exc.default_code, str) else "error"
    errors = None
    if isinstance(exc, exceptions.ValidationError):
        detail_text = "The request has invalid fields; see `errors`."
        errors = field_errors(exc.detail)
        code = "validation_failed"
    else:
        detail_text = str(exc.detail) if not isinstance(exc.detail, dict | list) else str(_flatten(exc.detail))
    response = problem_response(
        status=exc.status_code,
        title=_TITLES.get(exc.status_code, "Error"),
        detail=detail_text,
        code=code,
        errors=errors,
        instance=instance,
    )
    wait = getattr(exc, "wait", None) if isinstance(exc, exceptions.Throttled) else None
    if wait is not None:
        response["Retry-After"] = str(int(wait) + 1)
    if exc.status_code == status.HTTP_401_UNAUTHORIZED:
        response["WWW-Authenticate"] = 'Bearer realm="portico"'
    return response
