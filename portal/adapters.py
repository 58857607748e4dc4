"""allauth hooks: every new account gets its personal organisation; reauthentication goes by the second factor
when the account has one, and a fresh sign-in counts as a recent reauthentication."""

from __future__ import annotations

import time
from typing import Any

from allauth.account import app_settings as account_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context
from allauth.mfa.utils import is_mfa_enabled
from django.http import HttpRequest

from foundation.second_factor import passed_second_factor
from portal.services.organisations import organisation_ensure_personal

# When this session last completed a sign-in (password, then the second factor if any), as a Unix time.
SIGNED_IN_AT = "portico_signed_in_at"
# allauth's id for reauthentication by password (its other ids name second factors).
PASSWORD_REAUTHENTICATION = "reauthenticate"


class PorticoAccountAdapter(DefaultAccountAdapter):
    def save_user(self, request: HttpRequest, user: Any, form: Any, commit: bool = True) -> Any:
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            organisation_ensure_personal(user=user)
        return user

    def login(self, request: HttpRequest, user: Any) -> None:
        super().login(request, user)
        request.session[SIGNED_IN_AT] = time.time()

    def get_reauthentication_methods(self, user: Any) -> list[dict[str, Any]]:
        """An account with a second factor proves it is still its owner with that factor: a stolen session
        plus a guessed or phished password must not be enough to change the email or turn MFA off."""
        methods: list[dict[str, Any]] = super().get_reauthentication_methods(user)
        if user.is_authenticated and is_mfa_enabled(user):
            return [m for m in methods if m["id"] != PASSWORD_REAUTHENTICATION]
        return methods

    def is_reauthentication_required(self, *, app: str, **kwargs: Any) -> bool:
        """allauth asks again before MFA and email changes even right after sign-in; within the
        reauthentication window a sign-in is as recent as a reauthentication, so it is not asked twice. For an
        account with a second factor only this session's use of that factor counts: a session signed in before
        TOTP was set up has none."""
        if not super().is_reauthentication_required(app=app, **kwargs):
            return False
        request = context.request
        if request is None:
            return True
        within = account_settings.REAUTHENTICATION_TIMEOUT
        if is_mfa_enabled(request.user):
            return not passed_second_factor(request, within=within)
        signed_in_at = request.session.get(SIGNED_IN_AT)
        return signed_in_at is None or time.time() - signed_in_at >= within
