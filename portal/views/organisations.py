"""Organisations: create and switch, members and roles, invitations (send, revoke, accept)."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import get_adapter as get_account_adapter
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from foundation.errors import ApplicationError
from portal.forms import ROLE_HELP, InvitationForm, OrganisationForm, RoleForm
from portal.models import Membership, Role
from portal.selectors import invitation_get, invitations_open, member_get, members_of
from portal.services import organisations as organisation_services
from portal.views.common import (
    SESSION_ORGANISATION,
    add_service_error,
    is_access_error,
    organisation_membership,
    portal_view,
    remember_organisation,
    render_confirm,
    render_error,
    render_page,
    safe_next,
    user_memberships,
)


@portal_view
def organisation_list(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/organisation_list.html", {"memberships": user_memberships(request)})


@portal_view
@require_http_methods(["GET", "POST"])
def organisation_create(request: HttpRequest) -> HttpResponse:
    """A team organisation, owned by its creator; it becomes the current one."""
    form = OrganisationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            organisation = organisation_services.organisation_create(user=request.user, name=form.cleaned_data["name"])
        except (ApplicationError, ValidationError) as error:
            add_service_error(form, error)
        else:
            request.session[SESSION_ORGANISATION] = organisation.pk
            messages.success(request, f"Organisation {organisation.name} created. Invite your team next.")
            return redirect("portal:organisation_members", organisation_id=organisation.pk)
    return render(request, "portal/organisation_form.html", {"form": form})


@portal_view
@require_POST
def organisation_switch(request: HttpRequest, organisation_id: int) -> HttpResponse:
    """Remember the chosen organisation for the navigation and dashboard (not a state change of any model)."""
    membership = organisation_membership(request, organisation_id)
    messages.info(request, f"Switched to {membership.organisation.name}.")
    return redirect(safe_next(request, reverse("portal:dashboard")))


# --- Members -------------------------------------------------------------------------------------------------


def _member_row(viewer: Membership, member: Membership, error: str = "") -> dict[str, Any]:
    """What the viewer may do to one member; the services enforce the same rules again."""
    is_self = member.pk == viewer.pk
    viewer_is_owner = viewer.role == Role.OWNER
    can_remove = not is_self and (
        viewer_is_owner or (viewer.can_manage and member.role not in (Role.OWNER, Role.ADMIN))
    )
    return {
        "member": member,
        "is_self": is_self,
        "role_form": RoleForm(initial={"role": member.role}, prefix=f"m{member.pk}") if viewer_is_owner else None,
        "can_remove": can_remove,
        "can_leave": is_self and not (member.organisation.is_personal and member.role == Role.OWNER),
        "error": error,
    }


def _members_page(request: HttpRequest, membership: Membership, **forms: Any) -> HttpResponse:
    members = list(members_of(membership=membership).select_related("organisation"))
    context = {
        "membership": membership,
        "organisation": membership.organisation,
        "rows": [_member_row(membership, member) for member in members],
        "invitations": invitations_open(membership=membership) if membership.can_manage else [],
        "invite_form": forms.get("invite_form") or InvitationForm(can_invite_owners=membership.role == Role.OWNER),
        "rename_form": forms.get("rename_form") or OrganisationForm(initial={"name": membership.organisation.name}),
        "role_help": ROLE_HELP,
    }
    return render(request, "portal/members.html", context)


@portal_view
def organisation_members(request: HttpRequest, organisation_id: int) -> HttpResponse:
    """Everyone sees who is in the organisation; owners and admins also get the management controls."""
    return _members_page(request, organisation_membership(request, organisation_id))


@portal_view
@require_POST
def organisation_rename(request: HttpRequest, organisation_id: int) -> HttpResponse:
    membership = organisation_membership(request, organisation_id)
    form = OrganisationForm(request.POST)
    if form.is_valid():
        try:
            organisation_services.organisation_rename(membership=membership, name=form.cleaned_data["name"])
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, "Organisation renamed.")
            return redirect("portal:organisation_members", organisation_id=organisation_id)
    return _members_page(request, membership, rename_form=form)


@portal_view
@require_POST
def member_invite(request: HttpRequest, organisation_id: int) -> HttpResponse:
    membership = organisation_membership(request, organisation_id)
    form = InvitationForm(request.POST, can_invite_owners=membership.role == Role.OWNER)
    if form.is_valid():
        try:
            invitation = organisation_services.invitation_create(
                membership=membership, email=form.cleaned_data["email"], role=form.cleaned_data["role"]
            )
        except (ApplicationError, ValidationError) as error:
            if is_access_error(error):
                raise
            add_service_error(form, error)
        else:
            messages.success(request, f"Invitation sent to {invitation.email} as {invitation.role}.")
            return redirect("portal:organisation_members", organisation_id=organisation_id)
    return _members_page(request, membership, invite_form=form)


@portal_view
@require_POST
def member_change_role(request: HttpRequest, organisation_id: int, member_id: int) -> HttpResponse:
    """Owners change roles inline (htmx swaps the row); refusals such as "last owner" show on the row."""
    membership = organisation_membership(request, organisation_id)
    target = member_get(membership=membership, member_id=member_id)
    form = RoleForm(request.POST, prefix=f"m{target.pk}")
    error = ""
    if not form.is_valid():
        error = "Choose a valid role."
    else:
        try:
            target = organisation_services.membership_change_role(
                membership=membership, target=target, role=form.cleaned_data["role"]
            )
        except ApplicationError as refusal:
            if is_access_error(refusal):
                raise
            error = refusal.message
    members_url = reverse("portal:organisation_members", args=[organisation_id])
    if request.htmx:
        if not error and target.pk == membership.pk:
            # The viewer changed their own role: every row's controls may change, so reload the page.
            return HttpResponseClientRedirect(members_url)
        return render(request, "portal/partials/member_row.html", {"row": _member_row(membership, target, error)})
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"{target.user.email} is now {target.role}.")
    return redirect(members_url)


@portal_view
@require_http_methods(["GET", "POST"])
def member_remove(request: HttpRequest, organisation_id: int, member_id: int) -> HttpResponse:
    """Remove someone (managers), or leave (anyone); confirmed on a page of its own."""
    membership = organisation_membership(request, organisation_id)
    target = member_get(membership=membership, member_id=member_id)
    leaving = target.pk == membership.pk
    members_url = reverse("portal:organisation_members", args=[organisation_id])
    if request.method == "POST":
        try:
            organisation_services.membership_remove(membership=membership, target=target)
        except ApplicationError as refusal:
            if is_access_error(refusal):
                raise
            messages.error(request, refusal.message)
            return redirect(members_url)
        if leaving:
            request.session.pop(SESSION_ORGANISATION, None)
            messages.success(request, f"You left {membership.organisation.name}.")
            return redirect("portal:dashboard")
        messages.success(request, f"{target.user.email} was removed from {membership.organisation.name}.")
        return redirect(members_url)
    if not leaving and not _member_row(membership, target)["can_remove"]:
        return render_error(request, 403, "Permission denied", "Your role cannot remove this member.")
    organisation = membership.organisation.name
    return render_confirm(
        request,
        title=f"Leave {organisation}?" if leaving else f"Remove {target.user.email}?",
        message="You will lose access to its applications and keys."
        if leaving
        else f"They will lose access to {organisation}'s applications and keys. Their keys keep working.",
        confirm_label="Leave organisation" if leaving else "Remove member",
        cancel_url=members_url,
    )


@portal_view
@require_POST
def invitation_revoke(request: HttpRequest, organisation_id: int, invitation_id: int) -> HttpResponse:
    membership = organisation_membership(request, organisation_id)
    invitation = invitation_get(membership=membership, invitation_id=invitation_id)
    organisation_services.invitation_revoke(membership=membership, invitation=invitation)
    if request.htmx:
        return render(
            request,
            "portal/partials/invitation_list.html",
            {"membership": membership, "invitations": invitations_open(membership=membership)},
        )
    messages.success(request, f"Invitation of {invitation.email} revoked.")
    return redirect("portal:organisation_members", organisation_id=organisation_id)


# --- Accepting an invitation ---------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """Anyone holding the link sees what it is for; accepting needs an account with the invited email."""
    if request.method == "POST":
        return _invitation_accept_post(request, token)
    try:
        invitation = organisation_services.invitation_from_token(token)
    except ApplicationError as error:
        return render_error(request, 404, "Invitation not available", error.message)
    email_matches = request.user.is_authenticated and (request.user.email or "").lower() == invitation.email.lower()
    if not request.user.is_authenticated:
        # The link reached this mailbox, so an account made with its address needs no second verification email
        # (allauth's stash for invitation systems); the sign-up form is pre-filled with it.
        get_account_adapter(request).stash_verified_email(request, invitation.email)
    return render_page(
        request,
        "portal/invitation_accept.html",
        {"invitation": invitation, "email_matches": email_matches, "here": request.get_full_path()},
    )


@login_required
def _invitation_accept_post(request: HttpRequest, token: str) -> HttpResponse:
    try:
        membership = organisation_services.invitation_accept(token=token, user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("portal:invitation_accept", token=token)
    remember_organisation(request, membership)
    messages.success(request, f"Welcome to {membership.organisation.name}! You joined as {membership.role}.")
    return redirect("portal:dashboard")
