"""The account security overview: sign-in methods, two-factor state, tokens and recent sign-in activity."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from foundation.models import AuditEvent
from portal.views.common import portal_view

RECENT_EVENTS = 10


@portal_view
def account_security(request: HttpRequest) -> HttpResponse:
    """Everything that protects the account on one page, each with a link to change it."""
    user = request.user
    authenticators = {a.type: a for a in Authenticator.objects.filter(user=user)}
    recovery = authenticators.get(Authenticator.Type.RECOVERY_CODES)
    now = timezone.now()
    tokens = [t for t in user.access_tokens.all() if t.is_usable_at(now)]
    # The user's own account events, plus failed sign-ins against their email (those have no actor).
    own_events = Q(actor=user, action__regex=r"^(account|mfa|access_token)\.")
    if user.email:
        own_events |= Q(actor__isnull=True, action="account.login_failed", actor_label__iexact=user.email)
    context = {
        "emails": EmailAddress.objects.filter(user=user).order_by("-primary", "email"),
        "totp": authenticators.get(Authenticator.Type.TOTP),
        "recovery_unused": len(recovery.wrap().get_unused_codes()) if recovery else None,
        "token_count": len(tokens),
        "events": AuditEvent.objects.filter(own_events)[:RECENT_EVENTS],
    }
    return render(request, "portal/account_security.html", context)
