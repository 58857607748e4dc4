"""Permissions specific to credentials."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from keys.models import PersonalAccessToken


class NotWithAccessToken(BasePermission):
    """Refuse the guarded methods to token-authenticated requests: a leaked token must not mint its successors."""

    message = "Create access tokens from a signed-in session; an access token cannot create tokens."
    guarded_methods = frozenset({"POST"})

    def has_permission(self, request: Request, view: Any) -> bool:
        return not (request.method in self.guarded_methods and isinstance(request.auth, PersonalAccessToken))
