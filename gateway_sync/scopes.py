"""OAuth2 scopes: `gateway` is only ever granted to the OAuth client of a registered gateway."""

from __future__ import annotations

from typing import Any

from oauth2_provider.scopes import SettingsScopes

from gateway_sync.models import Gateway

GATEWAY_SCOPE = "gateway"


class GatewayOnlyScopes(SettingsScopes):
    """Defence in depth: the gateway endpoints check the token's gateway too, but no other client gets the scope."""

    def get_available_scopes(self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any) -> list:
        scopes = list(super().get_available_scopes(application, request, *args, **kwargs))
        if application is None or not Gateway.objects.filter(oauth_application=application).exists():
            scopes = [scope for scope in scopes if scope != GATEWAY_SCOPE]
        return scopes
