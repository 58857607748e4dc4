"""Organisations, their members and invitations: every state change, with the one-owner rule and the audit trail.

Portal pages, the REST API and the admin call these; members act through their `Membership` (its role is checked
here), staff through the `*_by_staff` variants (the admin already requires staff with MFA).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from foundation.audit import audit_record
from foundation.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from foundation.limits import limit_check, owner_lock, user_lock
from foundation.mail import send_after_commit
from gateway_sync import changes as config_changes
from portal.models import Invitation, Membership, Organisation, Role
from portal.selectors import membership_require, owner_roles

INVITATION_SALT = "portico.invitation"


@transaction.atomic
def organisation_create(*, user: Any, name: str, is_personal: bool = False) -> Organisation:
    """Create an organisation with `user` as its owner."""
    user_lock(user)
    limit_check(
        Membership.objects.filter(user=user),
        limit=settings.PORTICO_MAX_ORGANISATIONS_PER_USER,
        what="organisations per person",
    )
    organisation = Organisation(name=name.strip(), is_personal=is_personal)
    organisation.full_clean()
    organisation.save()
    Membership.objects.create(organisation=organisation, user=user, role=Role.OWNER)
    audit_record(action="organisation.created", actor=user, organisation=organisation, target=organisation)
    return organisation


def organisation_ensure_personal(*, user: Any) -> Organisation:
    """Every developer gets a personal organisation on first sign-in; idempotent."""
    existing = Organisation.objects.filter(memberships__user=user, is_personal=True).first()
    if existing is not None:
        return existing
    label = (user.email or user.get_username()).split("@")[0][:60] or "My"
    return organisation_create(user=user, name=f"{label}'s organisation", is_personal=True)


@transaction.atomic
def organisation_rename(*, membership: Membership, name: str) -> Organisation:
    membership_require(membership)
    organisation = membership.organisation
    organisation.name = name.strip()
    organisation.full_clean()
    organisation.save(update_fields=["name"])
    audit_record(action="organisation.renamed", actor=membership.user, organisation=organisation, target=organisation)
    return organisation


@transaction.atomic
def organisation_set_status(*, organisation: Organisation, status: str, actor: Any) -> Organisation:
    """Suspend or reactivate a tenant (staff only). A suspended organisation's keys stop working."""
    if status not in Organisation.Status.values:
        raise ValidationFailed(
            "Unknown status.", field_errors={"status": [f"Use one of {Organisation.Status.values}."]}
        )
    organisation.status = status
    organisation.save(update_fields=["status"])
    audit_record(action=f"organisation.{status}", actor=actor, organisation=organisation, target=organisation)
    config_changes.record_organisation(organisation)
    return organisation


# --- Members and invitations ---------------------------------------------------------------------------------


def invitation_token(invitation: Invitation) -> str:
    """A signed token naming the invitation; expiry is checked against the invitation itself."""
    return signing.dumps({"invitation": invitation.pk}, salt=INVITATION_SALT)


@transaction.atomic
def invitation_create(*, membership: Membership, email: str, role: str) -> Invitation:
    """Invite someone by email; only owners may invite owners."""
    membership_require(membership)
    if role not in Role.values:
        raise ValidationFailed("Unknown role.", field_errors={"role": [f"Use one of {', '.join(Role.values)}."]})
    if role == Role.OWNER:
        membership_require(membership, owner_roles())
    organisation = membership.organisation
    email = email.strip().lower()
    if Membership.objects.filter(organisation=organisation, user__email__iexact=email).exists():
        raise Conflict("That person is already a member.", field_errors={"email": ["Already a member."]})
    owner_lock(organisation)
    limit_check(
        organisation.memberships.all(),
        limit=settings.PORTICO_MAX_MEMBERS_PER_ORGANISATION,
        what="members per organisation",
    )
    _invitations_replace(organisation=organisation, email=email, actor=membership.user)
    limit_check(
        Invitation.objects.filter(organisation=organisation, accepted_at__isnull=True, revoked_at__isnull=True),
        limit=settings.PORTICO_MAX_OPEN_INVITATIONS_PER_ORGANISATION,
        what="open invitations per organisation",
    )
    invitation = Invitation(
        organisation=organisation,
        email=email,
        role=role,
        invited_by=membership.user,
        expires_at=timezone.now() + settings.PORTICO_INVITATION_MAX_AGE,
    )
    invitation.full_clean()
    invitation.save()
    link = settings.PORTICO_SITE_URL + reverse("portal:invitation_accept", args=[invitation_token(invitation)])
    send_after_commit(
        subject=f"You are invited to {organisation.name}",
        template="portal/email/invitation.txt",
        context={"invitation": invitation, "link": link, "inviter": membership.user},
        to=[email],
    )
    audit_record(
        action="member.invited",
        actor=membership.user,
        organisation=organisation,
        target=invitation,
        data={"email": email, "role": role},
    )
    return invitation


def _invitations_replace(*, organisation: Organisation, email: str, actor: Any) -> None:
    """One open invitation per person and organisation: a new one revokes the earlier links, so the role someone
    joins with is always the one on the newest invitation."""
    now = timezone.now()
    earlier = Invitation.objects.select_for_update().filter(
        organisation=organisation, email=email, accepted_at__isnull=True, revoked_at__isnull=True
    )
    for invitation in earlier:
        invitation.revoked_at = now
        invitation.save(update_fields=["revoked_at"])
        audit_record(
            action="member.invitation_replaced",
            actor=actor,
            organisation=organisation,
            target=invitation,
            data={"email": email, "role": invitation.role},
        )


def invitation_from_token(token: str) -> Invitation:
    """Resolve a signed invitation link; tampered, unknown, used or expired links are all NotFound."""
    try:
        payload = signing.loads(token, salt=INVITATION_SALT, max_age=settings.PORTICO_INVITATION_MAX_AGE)
        invitation = Invitation.objects.select_related("organisation").get(pk=int(payload["invitation"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError, Invitation.DoesNotExist):
        raise NotFound("This invitation link is invalid or has expired.") from None
    if not invitation.is_open_at(timezone.now()):
        raise NotFound("This invitation link is invalid or has expired.")
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, user: Any) -> Membership:
    """Join the organisation; the invitation is bound to the email it was sent to."""
    invitation = invitation_from_token(token)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_open_at(timezone.now()):
        raise NotFound("This invitation link is invalid or has expired.")
    if (user.email or "").lower() != invitation.email.lower():
        raise PermissionDenied("This invitation was sent to another email address.")
    existing = Membership.objects.filter(organisation=invitation.organisation, user=user).first()
    if existing is not None:
        raise Conflict(f"You are already a member of {invitation.organisation.name} (as {existing.role}).")
    user_lock(user)
    owner_lock(invitation.organisation)
    limit_check(
        Membership.objects.filter(user=user),
        limit=settings.PORTICO_MAX_ORGANISATIONS_PER_USER,
        what="organisations per person",
    )
    limit_check(
        invitation.organisation.memberships.all(),
        limit=settings.PORTICO_MAX_MEMBERS_PER_ORGANISATION,
        what="members per organisation",
    )
    membership = Membership.objects.create(organisation=invitation.organisation, user=user, role=invitation.role)
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    audit_record(
        action="member.joined",
        actor=user,
        organisation=invitation.organisation,
        target=membership,
        data={"role": membership.role},
    )
    return membership


@transaction.atomic
def invitation_revoke(*, membership: Membership, invitation: Invitation) -> None:
    membership_require(membership)
    if invitation.organisation_id != membership.organisation_id:
        raise NotFound("Invitation not found.")
    if not invitation.is_open_at(timezone.now()):
        raise Conflict("This invitation was already accepted, revoked or has expired.")
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(
        action="member.invitation_revoked",
        actor=membership.user,
        organisation=membership.organisation,
        target=invitation,
        data={"email": invitation.email},
    )


def _owners_left_after(target: Membership, new_role: str | None) -> int:
    owners = Membership.objects.select_for_update().filter(organisation=target.organisation, role=Role.OWNER)
    remaining = owners.exclude(pk=target.pk).count()
    return remaining + (1 if new_role == Role.OWNER else 0)


def _role_change(*, actor: Any, target: Membership, role: str) -> Membership:
    """The rules every role change obeys, whoever makes it: a known role, and at least one owner left."""
    if role not in Role.values:
        raise ValidationFailed("Unknown role.", field_errors={"role": [f"Use one of {', '.join(Role.values)}."]})
    # The stored role, not the caller's copy: an admin form has already put the new role on its instance.
    old_role = Membership.objects.select_for_update().values_list("role", flat=True).get(pk=target.pk)
    if old_role == Role.OWNER and _owners_left_after(target, role) == 0:
        raise Conflict("An organisation needs at least one owner.")
    target.role = role
    target.save(update_fields=["role"])
    audit_record(
        action="member.role_changed",
        actor=actor,
        organisation=target.organisation,
        target=target,
        data={"from": old_role, "to": role},
    )
    return target


def _removal(*, actor: Any, target: Membership) -> None:
    """The rules every removal obeys, whoever makes it: at least one owner left, personal organisations kept."""
    if target.role == Role.OWNER and _owners_left_after(target, None) == 0:
        raise Conflict("An organisation needs at least one owner; make someone else owner first.")
    if target.organisation.is_personal and target.role == Role.OWNER:
        raise Conflict("You cannot leave your personal organisation.")
    audit_record(
        action="member.removed",
        actor=actor,
        organisation=target.organisation,
        target=target,
        data={"email": target.user.email, "role": target.role},
    )
    target.delete()


@transaction.atomic
def membership_change_role(*, membership: Membership, target: Membership, role: str) -> Membership:
    """Owners change roles; an organisation always keeps at least one owner."""
    membership_require(membership, owner_roles())
    if target.organisation_id != membership.organisation_id:
        raise NotFound("Member not found.")
    return _role_change(actor=membership.user, target=target, role=role)


@transaction.atomic
def membership_change_role_by_staff(*, staff: Any, target: Membership, role: str) -> Membership:
    """A staff member (in the admin) changes a role; the one-owner rule still holds and staff are the actor."""
    return _role_change(actor=staff, target=target, role=role)


@transaction.atomic
def membership_remove(*, membership: Membership, target: Membership) -> None:
    """Managers remove members; only owners remove admins and owners; anyone may leave (but not the last owner)."""
    if target.organisation_id != membership.organisation_id:
        raise NotFound("Member not found.")
    if target.pk != membership.pk:
        membership_require(membership)
        if target.role in (Role.OWNER, Role.ADMIN):
            membership_require(membership, owner_roles())
    _removal(actor=membership.user, target=target)


@transaction.atomic
def membership_remove_by_staff(*, staff: Any, target: Membership) -> None:
    """A staff member (in the admin) removes someone; the one-owner rule still holds and staff are the actor."""
    _removal(actor=staff, target=target)
