"""The one exception family services raise; the API maps it to problem+json, views to messages."""

from __future__ import annotations


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
    status = 403
    code = "permission_denied"
    title = "Permission denied"


class Conflict(ApplicationError):
    status = 409
    code = "conflict"
    title = "Conflict"


class LimitReached(ApplicationError):
    status = 409
    code = "limit_reached"
    title = "Limit reached"


class ValidationFailed(ApplicationError):
    status = 400
    code = "validation_failed"
    title = "Invalid input"
