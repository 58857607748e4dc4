"""Portal pages."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from portal import services
from portal.errors import ApplicationError
from portal.selectors import organisations_for_user


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/dashboard.html", {"organisations": organisations_for_user(request.user)})


@login_required
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    if request.method == "POST":
        try:
            membership = services.invitation_accept(token=token, user=request.user)
        except ApplicationError as error:
            messages.error(request, error.message)
            return redirect("portal:dashboard")
        messages.success(request, f"You joined {membership.organisation.name}.")
        return redirect("portal:dashboard")
    try:
        invitation = services.invitation_from_token(token)
    except ApplicationError as error:
        return render(
            request, "error.html", {"status": 404, "title": "Invitation", "detail": error.message}, status=404
        )
    return render(request, "portal/invitation_accept.html", {"invitation": invitation})
