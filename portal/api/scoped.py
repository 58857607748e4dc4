"""Endpoints inside one organisation: the URL names the organisation (or an object of it), the requester's
membership there is resolved once, and `required_roles` says which roles may use each method."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from django.db.models import Model
from rest_framework.permissions import IsAuthenticated

from foundation.api.base import PorticoAPIView
from portal.api.permissions import HasOrganisationRole
from portal.models import Membership
from portal.selectors import membership_get


class ScopedView(PorticoAPIView):
    """An endpoint inside one organisation; `required_roles` maps each method to the roles allowed to use it."""

    permission_classes = (IsAuthenticated, HasOrganisationRole)
    required_roles: ClassVar[Mapping[str, frozenset[str]]] = {}
    _membership: Membership | None = None

    def scope_organisation_id(self) -> Any:
        """The organisation the URL points into (resolving it raises NotFound for objects of other tenants)."""
        raise NotImplementedError

    def get_membership(self) -> Membership:
        if self._membership is None:
            self._membership = membership_get(user=self.request.user, organisation_id=self.scope_organisation_id())
        return self._membership


class OrganisationView(ScopedView):
    """An endpoint under /organisations/{organisation_id}/."""

    def scope_organisation_id(self) -> Any:
        return self.kwargs["organisation_id"]


class ObjectView(ScopedView):
    """An endpoint under /<things>/{id}/: the object is loaded through a scoped selector, then its organisation."""

    _object: Model | None = None

    def load_object(self) -> Model:
        """Fetch the URL's object with a selector scoped to the user (NotFound otherwise)."""
        raise NotImplementedError

    def object_organisation_id(self, obj: Any) -> int:
        raise NotImplementedError

    def get_object(self) -> Any:
        if self._object is None:
            self._object = self.load_object()
        return self._object

    def scope_organisation_id(self) -> Any:
        return self.object_organisation_id(self.get_object())
