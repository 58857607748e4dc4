"""Reads shared by the notification services and pages."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from notifications.models import OptOut
from portal.models import MANAGER_ROLES


def recipients(*, organisation_id: int, kind: str, exclude_user_id: int | None = None) -> list[Any]:
    """The organisation's owners and admins with an email address who have not turned `kind` off."""
    users = (
        get_user_model()
        .objects.filter(
            memberships__organisation_id=organisation_id, memberships__role__in=MANAGER_ROLES, is_active=True
        )
        .exclude(email="")
        .exclude(notification_opt_outs__kind=kind)
        .distinct()
        .order_by("pk")
    )
    if exclude_user_id is not None:
        users = users.exclude(pk=exclude_user_id)
    return list(users)


def opted_out_kinds(*, user: Any) -> set[str]:
    """The kinds this user turned off."""
    return set(OptOut.objects.filter(user=user).values_list("kind", flat=True))
