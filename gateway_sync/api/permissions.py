"""Who may call the gateway endpoints: an enabled, registered gateway with an OAuth2 token of scope `gateway`."""

from __future__ import annotations

from typing import Any

from oauth2_provider.models import get_access_token_model
from rest_framework import exceptions
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from gateway_sync.models import Gateway

GATEWAY_SCOPE = "gateway"


class IsEnabledGateway(BasePermission):
    """Sets `request.gateway` from the token's application, so a gateway can only ever act as itself."""

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, get_access_token_model()):
            return False  # not authenticated: DRF answers 401 with a Bearer challenge
        if not token.allow_scopes([GATEWAY_SCOPE]):
            raise exceptions.PermissionDenied("This token lacks the `gateway` scope.")
        gateway = Gateway.objects.filter(oauth_application_id=token.application_id).first()
        if gateway is None:
            raise exceptions.PermissionDenied("This token does not belong to a registered gateway.")
        if not gateway.enabled:
            raise exceptions.PermissionDenied("This gateway is disabled.")
        request.gateway = gateway  # type: ignore[attr-defined]
        return True
