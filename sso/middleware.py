"""The strict CSP's `form-action 'self'` also governs where a form's redirects may go (Chromium enforces it): the
"Log in with …" forms post to the portal, which redirects to the provider. Pages with those forms allow the
configured providers' origins too; every other page keeps 'self' alone."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from allauth.socialaccount.models import SocialApp
from django.http import HttpRequest, HttpResponse

from sso.services import PROVIDER

# Pages whose forms start a sign-in or a connection with a provider.
PAGES_WITH_PROVIDER_FORMS = frozenset({"account_login", "socialaccount_connections", "openid_connect_login"})


def provider_origins() -> list[str]:
    """scheme://host[:port] of every configured provider's issuer, where its authorization endpoint lives."""
    origins = []
    for settings in SocialApp.objects.filter(provider=PROVIDER).values_list("settings", flat=True):
        parts = urlsplit(str((settings or {}).get("server_url", "")))
        if parts.scheme in ("http", "https") and parts.netloc:
            origin = f"{parts.scheme}://{parts.netloc}"
            if origin not in origins:
                origins.append(origin)
    return origins


class SsoFormActionMiddleware:
    """Listed after csp.middleware.CSPMiddleware, so its update is on the response when the header is built."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = request.resolver_match
        if match is not None and match.url_name in PAGES_WITH_PROVIDER_FORMS and response.status_code == 200:
            origins = provider_origins()
            if origins:
                response._csp_update = {"form-action": origins}  # type: ignore[attr-defined]
        return response
