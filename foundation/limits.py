"""Resource caps (OWASP API4): the one way services refuse to create one thing too many."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Model, QuerySet

from foundation.errors import LimitReached


def limit_check(existing: QuerySet[Any], *, limit: int, what: str) -> None:
    """Refuse when `existing` already holds `limit` rows. Callers lock the owner first (owner_lock), so two
    concurrent requests cannot both see room for one more."""
    if existing.count() >= limit:
        raise LimitReached(f"The limit of {limit} {what} is reached; remove one first.")


def owner_lock(owner: Model) -> None:
    """Hold the owning row (an organisation, an application, a user) until the transaction ends."""
    type(owner)._default_manager.select_for_update().filter(pk=owner.pk).first()


def user_lock(user: Any) -> None:
    """owner_lock for a user given as request.user (which may be a lazy object)."""
    get_user_model()._default_manager.select_for_update().filter(pk=user.pk).first()
