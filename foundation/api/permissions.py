"""The default permission: every view names its own; one that forgot serves nobody."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class DenyAll(BasePermission):
    """The base view's default: an endpoint that forgot to declare its permissions serves nobody."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return False
