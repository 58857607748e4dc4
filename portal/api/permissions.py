"""Who may call what inside an organisation: roles per method, checked after the organisation is resolved."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from portal.models import MANAGER_ROLES, Membership, Role
from portal.selectors import membership_require

ANY_MEMBER: frozenset[str] = frozenset(Role.values)
MANAGERS: frozenset[str] = frozenset(MANAGER_ROLES)
OWNERS: frozenset[str] = frozenset({Role.OWNER})


class OrganisationScoped(Protocol):
    """What HasOrganisationRole needs from a view."""

    required_roles: Mapping[str, frozenset[str]]
    http_method_names: list[str]

    def get_membership(self) -> Membership: ...


def _handles(view: Any, method: str) -> bool:
    name = method.lower()
    return name in view.http_method_names and hasattr(view, name)


class HasOrganisationRole(BasePermission):
    """The requester holds a role the view lists for this method, in the organisation the URL points into.

    The view resolves the organisation through selectors that raise NotFound for outsiders, so a foreign id
    answers 404 before any role is considered; only members can learn that they lack a role (403).
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        if not _handles(view, request.method or ""):
            return True  # DRF answers 405 with the Allow header; nothing is looked up
        method = "GET" if request.method == "HEAD" else request.method
        roles = view.required_roles.get(method)
        if roles is None:
            return False  # a handler without a declared role is refused, not opened up
        membership_require(view.get_membership(), roles)
        return True
