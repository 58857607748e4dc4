"""The Django admin, reachable only by staff whose session passed the second factor, recently.

Routing the admin login through allauth means the same brute-force limits and TOTP step apply to it. Having
TOTP set up is not enough: the session itself must have used it (see foundation.second_factor), within
PORTICO_ADMIN_REAUTHENTICATION_TIMEOUT; after that the admin asks for a fresh code.
"""

from __future__ import annotations

from typing import Any

from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from foundation.second_factor import passed_second_factor

# Where staff go once two-factor set-up is done (a same-site URL, checked when stored).
AFTER_MFA_SETUP = "portico_after_mfa_setup"


class PorticoAdminSite(admin.AdminSite):
    site_header = "Portico administration"
    site_title = "Portico admin"
    index_title = "Platform"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(
            user.is_active
            and user.is_staff
            and is_mfa_enabled(user)
            and passed_second_factor(request, within=settings.PORTICO_ADMIN_REAUTHENTICATION_TIMEOUT)
        )

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        request.session.pop(AFTER_MFA_SETUP, None)  # set-up is behind them
        return super().index(request, extra_context)

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        user = request.user
        next_url = request.GET.get("next") or reverse("admin:index")
        if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
            next_url = reverse("admin:index")
        if self.has_permission(request):
            return redirect(next_url)
        if user.is_authenticated and user.is_active and user.is_staff and not is_mfa_enabled(user):
            messages.warning(request, "Set up two-factor authentication to use the admin.")
            # The recovery-codes page that follows TOTP set-up offers the way back here.
            request.session[AFTER_MFA_SETUP] = next_url
            return redirect("mfa_activate_totp")
        if user.is_authenticated and user.is_active and user.is_staff:
            # TOTP is set up, but this session never gave a code, or gave it too long ago.
            messages.info(request, "Confirm with your authenticator app to use the admin.")
            return redirect(f"{reverse('mfa_reauthenticate')}?{urlencode({'next': next_url})}")
        if user.is_authenticated and not user.is_staff:
            messages.error(request, "Your account has no access to the admin.")
            return redirect("portal:dashboard")
        return redirect_to_login(next_url, login_url=reverse("account_login"))
