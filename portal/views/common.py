"""What every portal page shares: service errors as HTTP answers, the current organisation, htmx partials.

Services raise `ApplicationError`s; pages translate them here, in one place, so a foreign id is always a 404,
a missing role always a 403 page with the service's explanation, and a refused form input is shown next to
the field it concerns.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme

from foundation.errors import ApplicationError, NotFound, PermissionDenied
from portal.models import Membership
from portal.selectors import membership_get, memberships_for_user

SESSION_ORGANISATION = "portico_organisation"
_CACHE_ATTR = "_portico_memberships"

View = Callable[..., HttpResponse]


def render_confirm(
    request: HttpRequest, *, title: str, message: str, confirm_label: str, cancel_url: str, danger: bool = True
) -> HttpResponse:
    """The GET half of a destructive action: one page that names what happens and posts back to the same URL."""
    context = {
        "title": title,
        "message": message,
        "confirm_label": confirm_label,
        "cancel_url": cancel_url,
        "danger": danger,
    }
    return render(request, "portal/confirm.html", context)


def render_error(request: HttpRequest, status: int, title: str, detail: str) -> HttpResponse:
    """The error page with a specific, safe explanation (service messages never contain secrets)."""
    return render(request, "error.html", {"status": status, "title": title, "detail": detail}, status=status)


def service_errors(view: View) -> View:
    """NotFound becomes a 404 and PermissionDenied a 403 page explaining the missing role."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except NotFound:
            raise Http404("Not found.") from None
        except PermissionDenied as error:
            return render_error(request, 403, "Permission denied", error.message)

    return wrapper


def portal_view(view: View) -> View:
    """A signed-in page: login required, service errors mapped as in `service_errors`."""
    return login_required(service_errors(view))


def is_access_error(error: ApplicationError | ValidationError) -> bool:
    """Refusals about *who* asks (404/403) are answered as pages, never as form errors."""
    return isinstance(error, NotFound | PermissionDenied)


def add_service_error(form: forms.Form, error: ApplicationError | ValidationError) -> None:
    """Show a refusal on the form: field errors next to their fields, the rest at the top."""
    if isinstance(error, ValidationError):
        messages_by_field = error.message_dict if hasattr(error, "error_dict") else {None: error.messages}
        summary = None
    else:
        messages_by_field = dict(error.field_errors)
        summary = error.message
    placed_on_a_field = False
    for field, messages in messages_by_field.items():
        target = field if field in form.fields else None
        placed_on_a_field = placed_on_a_field or target is not None
        for message in messages:
            form.add_error(target, message)
    if summary and not placed_on_a_field:
        form.add_error(None, summary)


def user_memberships(request: HttpRequest) -> list[Membership]:
    """The user's memberships, loaded once per request (the switcher and the page both need them)."""
    cached = getattr(request, _CACHE_ATTR, None)
    if cached is None:
        cached = list(memberships_for_user(request.user)) if request.user.is_authenticated else []
        setattr(request, _CACHE_ATTR, cached)
    return cached


def current_membership(request: HttpRequest) -> Membership | None:
    """The organisation the user works in: the one they chose last, else their personal one, else the first."""
    memberships = user_memberships(request)
    if not memberships:
        return None
    chosen = request.session.get(SESSION_ORGANISATION)
    for membership in memberships:
        if membership.organisation_id == chosen:
            return membership
    personal = [m for m in memberships if m.organisation.is_personal]
    return (personal or memberships)[0]


def remember_organisation(request: HttpRequest, membership: Membership) -> None:
    """Make an organisation current, so the navigation follows the page the user is on."""
    if request.session.get(SESSION_ORGANISATION) != membership.organisation_id:
        request.session[SESSION_ORGANISATION] = membership.organisation_id


def organisation_membership(request: HttpRequest, organisation_id: int) -> Membership:
    """The user's membership of an organisation named in the URL (NotFound for others) and make it current."""
    membership = membership_get(user=request.user, organisation_id=organisation_id)
    remember_organisation(request, membership)
    return membership


def membership_of(request: HttpRequest, organisation_id: int) -> Membership:
    """The user's membership of the organisation owning an object they already reached through a selector."""
    for membership in user_memberships(request):
        if membership.organisation_id == organisation_id:
            remember_organisation(request, membership)
            return membership
    raise NotFound("Organisation not found.")


def render_page(
    request: HttpRequest, template: str, context: dict[str, Any], *, partial: str | None = None, status: int = 200
) -> HttpResponse:
    """The full page, or only its fragment when htmx asks (the full template includes the same fragment).

    A history-restore request (back button after `hx-push-url`) needs the whole page again.
    """
    wants_fragment = bool(partial and request.htmx and not request.htmx.history_restore_request)
    response = render(request, partial if wants_fragment and partial else template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])  # the same URL answers two shapes: keep caches apart
    return response


def safe_next(request: HttpRequest, fallback: str) -> str:
    """A same-site path from `next` in the form or query, else the fallback: never an open redirect, and never a
    bare word, which `redirect()` would take for a view name (a 500 when it names none)."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate.startswith("/") and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return fallback
