"""allauth hooks: every new account gets its personal organisation, and a fresh sign-in counts as a recent one."""

from __future__ import annotations

import time
from typing import Any

from allauth.account import app_settings as account_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context
from django.http import HttpRequest

from portal.services.organisations import organisation_ensure_personal

# When this session last proved who it is (password, then the second factor if any), as a Unix time.
SIGNED_IN_AT = "portico_signed_in_at"


class PorticoAccountAdapter(DefaultAccountAdapter):
    def save_user(self, request: HttpRequest, user: Any, form: Any, commit: bool = True) -> Any:
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            organisation_ensure_personal(user=user)
        return user

    def login(self, request: HttpRequest, user: Any) -> None:
        super().login(request, user)
        request.session[SIGNED_IN_AT] = time.time()

    def is_reauthentication_required(self, *, app: str, **kwargs: Any) -> bool:
        """allauth asks for the password again before MFA changes even right after sign-in; within the
        reauthentication window a sign-in is as recent as a reauthentication, so it is not asked twice."""
        if not super().is_reauthentication_required(app=app, **kwargs):
            return False
        request = context.request
        signed_in_at = request.session.get(SIGNED_IN_AT) if request is not None else None
        recent = signed_in_at is not None and time.time() - signed_in_at < account_settings.REAUTHENTICATION_TIMEOUT
        return not recent
