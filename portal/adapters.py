"""allauth hooks: every new account gets its personal organisation."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest

from portal.services.organisations import organisation_ensure_personal


class PorticoAccountAdapter(DefaultAccountAdapter):
    def save_user(self, request: HttpRequest, user: Any, form: Any, commit: bool = True) -> Any:
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            organisation_ensure_personal(user=user)
        return user
