"""allauth's social-account hooks for Portico: the takeover rule before any sign-in, encrypted client secrets,
and new SSO accounts set up like local ones (a personal organisation)."""

from __future__ import annotations

from typing import Any

import structlog
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialApp, SocialLogin
from allauth.socialaccount.providers.base import AuthProcess
from django.contrib import messages
from django.http import HttpRequest
from django.shortcuts import redirect

from foundation.audit import audit_record
from portal.services.organisations import organisation_ensure_personal
from sso.services import (
    SsoRefused,
    email_verified_claim,
    secret_open,
    sso_decide,
    sso_policy_for,
    sso_refusal_record,
)

logger = structlog.get_logger(__name__)


def provider_claims(sociallogin: SocialLogin) -> dict[str, Any]:
    """The claims allauth uses for this identity: userinfo when fetched, else the ID token's."""
    data = sociallogin.account.extra_data or {}
    return data.get("userinfo") or data.get("id_token") or data


class PorticoSocialAccountAdapter(DefaultSocialAccountAdapter):
    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        """Refuse or link before allauth signs anyone in or up (sso.services.sso_decide has the rule)."""
        provider_id = sociallogin.account.provider
        claims = provider_claims(sociallogin)
        email = str(claims.get("email") or "").strip()
        verified = email_verified_claim(claims)
        connecting = sociallogin.state.get("process") == AuthProcess.CONNECT
        linked = request.user if connecting else (sociallogin.user if sociallogin.is_existing else None)
        try:
            decision = sso_decide(
                policy=sso_policy_for(provider_id), email=email, email_verified=verified, linked_user=linked
            )
        except SsoRefused as refusal:
            sso_refusal_record(provider_id=provider_id, email=email, reason=refusal.message)
            messages.error(request, refusal.message)
            raise ImmediateHttpResponse(
                redirect("socialaccount_connections" if connecting else "account_login")
            ) from None
        # allauth takes any truthy email_verified; only the address the rule accepted counts as confirmed.
        for address in sociallogin.email_addresses:
            address.verified = address.email.lower() == decision.email.lower()
        if decision.link:
            sociallogin.connect(request, decision.user)
            audit_record(
                action="sso.linked",
                actor=decision.user,
                data={"provider": provider_id, "uid": sociallogin.account.uid[:255], "email": decision.email},
            )

    def save_user(self, request: HttpRequest, sociallogin: SocialLogin, form: Any = None) -> Any:
        user = super().save_user(request, sociallogin, form)
        organisation_ensure_personal(user=user)
        audit_record(action="sso.signed_up", actor=user, data={"provider": sociallogin.account.provider})
        return user

    def list_apps(self, request: HttpRequest | None, provider: Any = None, client_id: Any = None) -> list[SocialApp]:
        """Apps with their client secrets decrypted in memory (the database holds them encrypted). One whose
        secret was encrypted under another key (PORTICO_SECRETS_KEY changed) is left out, so its button disappears
        rather than failing at the provider; the log says which."""
        readable = []
        for app in super().list_apps(request, provider=provider, client_id=client_id):
            try:
                app.secret = secret_open(app.secret)
            except ValueError:
                logger.error("sso_secret_unreadable", provider=app.provider_id)
                continue
            readable.append(app)
        return readable
