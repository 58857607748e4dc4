"""DRF authentication by personal access token: `Authorization: Bearer ptc_pat_…`."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from keys.services import access_token_authenticate


class PersonalAccessTokenAuthentication(authentication.BaseAuthentication):
    """Token requests skip CSRF (no ambient credentials); browser sessions keep it via SessionAuthentication."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        # Scheme names are case-insensitive (RFC 9110 §11.1): "bearer" and "BEARER" are "Bearer".
        if len(parts) != 2 or parts[0].lower() != self.keyword.lower():
            return None  # maybe another scheme (e.g. OAuth2 for gateways) handles it
        if not parts[1].startswith("ptc_pat_"):
            return None
        token = access_token_authenticate(parts[1])
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or expired access token.")
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="portico"'
