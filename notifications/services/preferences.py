"""Per-user opt-outs, and the signed one-click unsubscribe token that needs no login."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import signing
from django.urls import reverse

from foundation.audit import audit_record
from notifications.models import Kind, OptOut

UNSUBSCRIBE_SALT = "notifications.unsubscribe"


def unsubscribe_token(*, user_id: int, kind: str) -> str:
    """A signed (user, kind) pair; it cannot be forged or changed to another user or kind."""
    return signing.dumps({"u": user_id, "k": kind}, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_token_read(token: str) -> tuple[int, str] | None:
    """The (user id, kind) a token names, or None for a forged or damaged token."""
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("k") not in Kind.values or not isinstance(data.get("u"), int):
        return None
    return data["u"], data["k"]


def unsubscribe_url(*, user_id: int, kind: str) -> str:
    """Absolute one-click unsubscribe link for an email's footer and its List-Unsubscribe header."""
    path = reverse("notifications:unsubscribe", args=[unsubscribe_token(user_id=user_id, kind=kind)])
    return settings.PORTICO_SITE_URL.rstrip("/") + path


def opt_out_set(*, user: Any, kind: str, enabled: bool) -> bool:
    """Turn one kind on or off for a user; returns whether anything changed (and audits only then)."""
    if enabled:
        changed = OptOut.objects.filter(user=user, kind=kind).delete()[0] > 0
    else:
        changed = OptOut.objects.get_or_create(user=user, kind=kind)[1]
    if changed:
        audit_record(
            action="account.notifications_changed", actor=user, organisation=None, target=user, data={kind: enabled}
        )
    return changed
