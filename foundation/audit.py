"""The audit trail's write side: every app records who did what, from where, on what, through `audit_record`.

Values are stored as structured data; nothing is formatted into a log line. Each event is linked into the
audit hash chains as it is stored (`foundation.audit_chain`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import structlog
from django.db import models
from django.http import HttpRequest, HttpResponse
from ipware import get_client_ip

from foundation.audit_chain import chain_append
from foundation.models import AuditEvent

_MAX_LABEL = 200
logger = structlog.get_logger("portico.audit")
# Set per request by AuditContextMiddleware, so services record where a change came from without
# having to take the HTTP request as an argument. Celery tasks and commands leave it empty.
current_request_context: ContextVar[dict[str, Any] | None] = ContextVar("portico_audit_context", default=None)


def request_context(request: HttpRequest | None) -> dict[str, Any]:
    """Client IP and user agent of a request (trusting proxies only as ipware is configured)."""
    if request is None:
        return {"ip_address": None, "user_agent": ""}
    ip, _routable = get_client_ip(request)
    return {"ip_address": ip, "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300]}


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


def audit_record(
    *,
    action: str,
    actor: Any = None,
    organisation: models.Model | None = None,  # an Organisation; typed loosely so this layer needs no feature app
    target: models.Model | None = None,
    data: dict[str, Any] | None = None,
    actor_label: str = "",
) -> AuditEvent:
    """Store one security-relevant event with who, where from, on what and when."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    event = AuditEvent(
        action=action,
        actor=user,
        actor_label=(actor_label or (user.email or user.get_username() if user else ""))[:254],
        organisation_id=organisation.pk if organisation is not None else None,
        target_type=(target._meta.model_name or "") if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=str(target)[:_MAX_LABEL] if target is not None else "",
        data=data or {},
        **(current_request_context.get() or request_context(None)),
    )
    chain_append(event)
    # Mirrored to the JSON log for SIEMs; the renderer escapes CR/LF and quotes, so one event stays one line.
    # The chain position and hash go along: a copy outside the database anchors the chain against a rewrite.
    logger.info(
        "audit",
        action=event.action,
        actor=event.actor_label,
        organisation_id=event.organisation_id,
        target=f"{event.target_type}:{event.target_id}",
        ip=event.ip_address,
        seq=event.seq,
        entry_hash=event.entry_hash,
    )
    return event
