"""Template context every portal page needs: the gateway address, and (lazily) the organisation switcher."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from foundation.admin_site import AFTER_MFA_SETUP
from portal.views.common import current_membership, user_memberships


def portal(request: HttpRequest) -> dict[str, Any]:
    """Lazy values: error pages and pages without navigation never query the database for them."""
    context: dict[str, Any] = {"portico_gateway_url": settings.PORTICO_GATEWAY_URL}
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        context["nav_memberships"] = SimpleLazyObject(lambda: user_memberships(request))
        context["nav_membership"] = SimpleLazyObject(lambda: current_membership(request))
        context["after_mfa_setup_url"] = request.session.get(AFTER_MFA_SETUP)
    return context
