"""A completed SSO sign-in (after the second factor, when the account has one): audit and memberships.

allauth's `user_logged_in` carries the social login only for sign-ins through a provider, and only fires once every
login stage (the TOTP prompt included) is passed, so nothing is joined by a half-finished sign-in.
"""

from __future__ import annotations

from typing import Any

from allauth.account.signals import user_logged_in
from django.dispatch import receiver

from sso.adapters import provider_claims
from sso.services import sso_login_completed


@receiver(user_logged_in)
def _signed_in(sender: Any, request: Any, user: Any, sociallogin: Any = None, **kwargs: Any) -> None:
    if sociallogin is None:
        return
    email = str(provider_claims(sociallogin).get("email") or "")
    sso_login_completed(user=user, provider_id=sociallogin.account.provider, uid=sociallogin.account.uid, email=email)
