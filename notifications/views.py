"""Email preferences (signed in) and the one-click unsubscribe page (a signed token, no login, no cookies)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from notifications import services
from notifications.forms import PreferencesForm
from notifications.models import Kind
from notifications.selectors import opted_out_kinds
from portal.views.common import portal_view


@portal_view
def preferences(request: HttpRequest) -> HttpResponse:
    """Turn each kind of notification email on or off."""
    form = PreferencesForm(request.POST or None, opted_out=opted_out_kinds(user=request.user))
    if request.method == "POST" and form.is_valid():
        for kind in Kind:
            services.opt_out_set(user=request.user, kind=kind.value, enabled=form.cleaned_data[kind.value])
        messages.success(request, "Email preferences saved.")
        return redirect("notifications:preferences")
    return render(request, "notifications/preferences.html", {"form": form})


@extend_schema(exclude=True)  # a page reached from an email, not part of the REST API
class UnsubscribeView(APIView):
    """GET confirms, POST unsubscribes (RFC 8058 one-click from the mail client, or the confirm page's button).

    The signed token is the only credential: no authentication class reads the session cookie, so DRF needs
    no CSRF check, and a forged request without the token can do nothing (see docs/security.md)."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []

    def _target(self, token: str) -> tuple[Any, str] | None:
        found = services.unsubscribe_token_read(token)
        if found is None:
            return None
        user = get_user_model().objects.filter(pk=found[0], is_active=True).first()
        return (user, found[1]) if user is not None else None

    def _page(self, request: Request, target: tuple[Any, str] | None, token: str, *, done: bool) -> HttpResponse:
        context = {"kind": Kind(target[1]).label if target else "", "token": token, "done": done}
        return render(request._request, "notifications/unsubscribe.html", context, status=200 if target else 404)

    def get(self, request: Request, token: str) -> HttpResponse:
        return self._page(request, self._target(token), token, done=False)

    def post(self, request: Request, token: str) -> HttpResponse:
        target = self._target(token)
        if target is not None:
            services.opt_out_set(user=target[0], kind=target[1], enabled=False)
        return self._page(request, target, token, done=target is not None)
