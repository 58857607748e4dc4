"""State changes for organisations, members, applications and subscriptions.

Every view, REST endpoint, admin action and task calls these functions, so the rules and the audit trail
live in one place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from gateway_sync import changes as config_changes
from portal.audit import audit_record
from portal.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portal.models import (
    Api,
    Application,
    Invitation,
    Membership,
    Organisation,
    Plan,
    Role,
    Subscription,
)
from portal.selectors import membership_require, owner_roles

INVITATION_SALT = "portico.invitation"


def _send_after_commit(*, subject: str, template: str, context: dict[str, Any], to: list[str]) -> None:
    """Send a plain-text email once the transaction that caused it has committed."""
    body = render_to_string(template, {"site_url": settings.PORTICO_SITE_URL, **context})
    prefix = settings.ACCOUNT_EMAIL_SUBJECT_PREFIX
    transaction.on_commit(lambda: send_mail(prefix + subject, body, None, to, fail_silently=False))


# --- Organisations ---------------------------------------------------------------------------------------------


@transaction.atomic
def organisation_create(*, user: Any, name: str, is_personal: bool = False) -> Organisation:
    """Create an organisation with `user` as its owner."""
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


# --- Members and invitations -----------------------------------------------------------------------------------


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
    _send_after_commit(
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
    membership, _created = Membership.objects.get_or_create(
        organisation=invitation.organisation, user=user, defaults={"role": invitation.role}
    )
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


@transaction.atomic
def membership_change_role(*, membership: Membership, target: Membership, role: str) -> Membership:
    """Owners change roles; an organisation always keeps at least one owner."""
    membership_require(membership, owner_roles())
    if target.organisation_id != membership.organisation_id:
        raise NotFound("Member not found.")
    if role not in Role.values:
        raise ValidationFailed("Unknown role.", field_errors={"role": [f"Use one of {', '.join(Role.values)}."]})
    if target.role == Role.OWNER and _owners_left_after(target, role) == 0:
        raise Conflict("An organisation needs at least one owner.")
    old_role, target.role = target.role, role
    target.save(update_fields=["role"])
    audit_record(
        action="member.role_changed",
        actor=membership.user,
        organisation=membership.organisation,
        target=target,
        data={"from": old_role, "to": role},
    )
    return target


@transaction.atomic
def membership_remove(*, membership: Membership, target: Membership) -> None:
    """Managers remove members; only owners remove admins and owners; anyone may leave (but not the last owner)."""
    if target.organisation_id != membership.organisation_id:
        raise NotFound("Member not found.")
    if target.pk != membership.pk:
        membership_require(membership)
        if target.role in (Role.OWNER, Role.ADMIN):
            membership_require(membership, owner_roles())
    if target.role == Role.OWNER and _owners_left_after(target, None) == 0:
        raise Conflict("An organisation needs at least one owner; make someone else owner first.")
    if target.organisation.is_personal and target.role == Role.OWNER:
        raise Conflict("You cannot leave your personal organisation.")
    audit_record(
        action="member.removed",
        actor=membership.user,
        organisation=membership.organisation,
        target=target,
        data={"email": target.user.email, "role": target.role},
    )
    target.delete()


# --- Applications ----------------------------------------------------------------------------------------------


@transaction.atomic
def application_create(*, membership: Membership, name: str, description: str = "") -> Application:
    """Any member can create applications for their organisation."""
    if not membership.organisation.is_active:
        raise PermissionDenied("This organisation is suspended.")
    application = Application(
        organisation=membership.organisation, name=name.strip(), description=description, created_by=membership.user
    )
    application.full_clean()
    application.save()
    audit_record(
        action="application.created", actor=membership.user, organisation=membership.organisation, target=application
    )
    return application


@transaction.atomic
def application_update(
    *, membership: Membership, application: Application, name: str | None = None, description: str | None = None
) -> Application:
    """Owners and admins edit an application's name and description."""
    membership_require(membership)
    if application.organisation_id != membership.organisation_id:
        raise NotFound("Application not found.")
    actor = membership.user
    if name is not None:
        application.name = name.strip()
    if description is not None:
        application.description = description
    application.full_clean()
    application.save(update_fields=["name", "description"])
    audit_record(action="application.updated", actor=actor, organisation=application.organisation, target=application)
    return application


@transaction.atomic
def application_delete(*, membership: Membership, application: Application) -> None:
    """Deleting an application revokes its keys and cancels its subscriptions (via cascade)."""
    membership_require(membership)
    if application.organisation_id != membership.organisation_id:
        raise NotFound("Application not found.")
    audit_record(
        action="application.deleted", actor=membership.user, organisation=application.organisation, target=application
    )
    for subscription in application.subscriptions.live():
        subscription_cancel(actor=membership.user, subscription=subscription)
    from keys.services import key_revoke

    for key in application.keys.filter(status="active"):
        key_revoke(actor=membership.user, key=key)
    application.delete()


# --- Subscriptions ---------------------------------------------------------------------------------------------


@transaction.atomic
def subscription_create(*, actor: Any, application: Application, plan: Plan) -> Subscription:
    """Subscribe to an API on a plan: active at once, or pending until a staff member approves."""
    if not application.organisation.is_active:
        raise PermissionDenied("This organisation is suspended.")
    Application.objects.select_for_update().filter(pk=application.pk).first()  # serialise per application
    if Subscription.objects.live().filter(application=application, api=plan.api).exists():
        raise Conflict(
            f"{application.name} already has a subscription to {plan.api.name}; change its plan instead.",
            field_errors={"plan": ["Already subscribed to this API."]},
        )
    now = timezone.now()
    status = Subscription.Status.PENDING if plan.requires_approval else Subscription.Status.ACTIVE
    try:
        with transaction.atomic():
            subscription = Subscription.objects.create(
                application=application,
                api=plan.api,
                plan=plan,
                status=status,
                activated_at=None if plan.requires_approval else now,
            )
    except IntegrityError:
        raise Conflict("Already subscribed to this API.") from None
    audit_record(
        action="subscription.created",
        actor=actor,
        organisation=application.organisation,
        target=subscription,
        data={"plan": plan.slug, "status": status},
    )
    config_changes.record_subscriptions([subscription])
    return subscription


@transaction.atomic
def subscription_change_plan(*, actor: Any, subscription: Subscription, plan: Plan) -> Subscription:
    """Upgrade or downgrade. A plan needing approval turns the subscription pending again."""
    subscription = (
        Subscription.objects.select_for_update()
        .select_related("api", "plan", "application__organisation")
        .get(pk=subscription.pk)
    )
    if plan.api_id != subscription.api_id:
        raise ValidationFailed("That plan belongs to another API.", field_errors={"plan": ["Plan of another API."]})
    if subscription.status in (Subscription.Status.CANCELLED, Subscription.Status.REJECTED):
        raise Conflict("This subscription has ended; subscribe again.")
    if plan.pk == subscription.plan_id:
        return subscription
    old_plan = subscription.plan
    subscription.plan = plan
    if plan.requires_approval and subscription.status == Subscription.Status.ACTIVE:
        subscription.status = Subscription.Status.PENDING
    # A new plan means new quotas: any block from the old plan is lifted and re-evaluated.
    subscription.blocked_until = None
    subscription.blocked_reason = ""
    subscription.save(update_fields=["plan", "status", "blocked_until", "blocked_reason"])
    audit_record(
        action="subscription.plan_changed",
        actor=actor,
        organisation=subscription.application.organisation,
        target=subscription,
        data={"from": old_plan.slug, "to": plan.slug, "status": subscription.status},
    )
    config_changes.record_subscriptions([subscription])
    return subscription


@transaction.atomic
def subscription_cancel(*, actor: Any, subscription: Subscription) -> Subscription:
    """End a subscription; idempotent, and a rejected one stays rejected."""
    subscription = (
        Subscription.objects.select_for_update().select_related("application__organisation").get(pk=subscription.pk)
    )
    if subscription.status in (Subscription.Status.CANCELLED, Subscription.Status.REJECTED):
        return subscription
    subscription.status = Subscription.Status.CANCELLED
    subscription.cancelled_at = timezone.now()
    subscription.save(update_fields=["status", "cancelled_at"])
    audit_record(
        action="subscription.cancelled",
        actor=actor,
        organisation=subscription.application.organisation,
        target=subscription,
    )
    config_changes.record_subscriptions([subscription])
    return subscription


def _notify_developers(subscription: Subscription, subject: str, template: str) -> None:
    recipients = list(
        subscription.application.organisation.memberships.filter(role__in=[Role.OWNER, Role.ADMIN]).values_list(
            "user__email", flat=True
        )
    )
    if recipients:
        _send_after_commit(subject=subject, template=template, context={"subscription": subscription}, to=recipients)


@transaction.atomic
def subscription_approve(*, actor: Any, subscription: Subscription) -> Subscription:
    """Staff approval of a pending subscription; the developers are emailed."""
    subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if subscription.status != Subscription.Status.PENDING:
        raise Conflict(f"Only pending subscriptions can be approved (this one is {subscription.status}).")
    subscription.status = Subscription.Status.ACTIVE
    subscription.activated_at = timezone.now()
    subscription.save(update_fields=["status", "activated_at"])
    audit_record(
        action="subscription.approved",
        actor=actor,
        organisation=subscription.application.organisation,
        target=subscription,
    )
    config_changes.record_subscriptions([subscription])
    _notify_developers(
        subscription,
        f"Your subscription to {subscription.api.name} is active",
        "portal/email/subscription_approved.txt",
    )
    return subscription


@transaction.atomic
def subscription_reject(*, actor: Any, subscription: Subscription) -> Subscription:
    subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if subscription.status != Subscription.Status.PENDING:
        raise Conflict(f"Only pending subscriptions can be rejected (this one is {subscription.status}).")
    subscription.status = Subscription.Status.REJECTED
    subscription.save(update_fields=["status"])
    audit_record(
        action="subscription.rejected",
        actor=actor,
        organisation=subscription.application.organisation,
        target=subscription,
    )
    config_changes.record_subscriptions([subscription])
    _notify_developers(
        subscription,
        f"Your subscription to {subscription.api.name} was declined",
        "portal/email/subscription_rejected.txt",
    )
    return subscription


# --- Quota enforcement -----------------------------------------------------------------------------------------
# Called by analytics.services.quota after each ingested log batch (blocks) and by its beat task (lifts).


@transaction.atomic
def subscription_block(*, subscription_id: int, until: datetime, reason: str) -> Subscription | None:
    """Have every gateway refuse a subscription's traffic until `until`; no change if already blocked that long."""
    subscription = (
        Subscription.objects.select_for_update()
        .select_related("application__organisation")
        .filter(pk=subscription_id)
        .first()
    )
    if subscription is None or (subscription.blocked_until is not None and subscription.blocked_until >= until):
        return subscription
    subscription.blocked_until = until
    subscription.blocked_reason = reason
    subscription.save(update_fields=["blocked_until", "blocked_reason"])
    audit_record(
        action="subscription.blocked",
        actor_label="quota enforcement",
        organisation=subscription.application.organisation,
        target=subscription,
        data={"reason": reason, "until": until.isoformat()},
    )
    config_changes.record_subscriptions([subscription])
    return subscription


@transaction.atomic
def subscription_unblock(*, subscription_id: int, reasons: tuple[str, ...]) -> Subscription | None:
    """Lift a block set for one of `reasons`; returns the subscription, or None when there was nothing to lift."""
    subscription = (
        Subscription.objects.select_for_update()
        .select_related("application__organisation")
        .filter(pk=subscription_id, blocked_until__isnull=False, blocked_reason__in=reasons)
        .first()
    )
    if subscription is None:
        return None
    reason = subscription.blocked_reason
    subscription.blocked_until = None
    subscription.blocked_reason = ""
    subscription.save(update_fields=["blocked_until", "blocked_reason"])
    audit_record(
        action="subscription.unblocked",
        actor_label="quota enforcement",
        organisation=subscription.application.organisation,
        target=subscription,
        data={"reason": reason},
    )
    config_changes.record_subscriptions([subscription])
    return subscription


# --- Catalog (staff, in the admin) -----------------------------------------------------------------------------


@transaction.atomic
def api_save(*, actor: Any, api: Api) -> Api:
    """Create or update a published API; gateways receive its routing in the same transaction."""
    created = api.pk is None
    api.full_clean()
    api.save()
    audit_record(action="api.created" if created else "api.updated", actor=actor, target=api, data={"slug": api.slug})
    config_changes.record_api(api.pk)
    return api


@transaction.atomic
def api_delete(*, actor: Any, api: Api) -> None:
    """Remove an API and its plans from the catalog and the gateways; refused while subscriptions refer to it."""
    if api.subscriptions.exists():
        raise Conflict(f"{api.name} has subscriptions; it cannot be deleted.")
    api_id, plan_ids = api.pk, list(api.plans.order_by("pk").values_list("pk", flat=True))
    audit_record(action="api.deleted", actor=actor, target=api, data={"slug": api.slug})
    api.delete()
    config_changes.record_api(api_id)  # recorded after the delete, so it publishes the removal
    for plan_id in plan_ids:
        config_changes.record_plan(plan_id)


@transaction.atomic
def plan_save(*, actor: Any, plan: Plan) -> Plan:
    """Create or update a plan; gateways receive its limits in the same transaction."""
    created = plan.pk is None
    plan.full_clean()
    plan.save()
    audit_record(
        action="plan.created" if created else "plan.updated", actor=actor, target=plan, data={"slug": plan.slug}
    )
    config_changes.record_plan(plan.pk)
    return plan


@transaction.atomic
def plan_delete(*, actor: Any, plan: Plan) -> None:
    """Remove a plan from the catalog and the gateways; refused while subscriptions refer to it."""
    if plan.subscriptions.exists():
        raise Conflict(f"{plan} has subscriptions; it cannot be deleted.")
    plan_id = plan.pk
    audit_record(action="plan.deleted", actor=actor, target=plan, data={"slug": plan.slug})
    plan.delete()
    config_changes.record_plan(plan_id)
