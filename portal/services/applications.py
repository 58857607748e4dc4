"""Applications and their subscriptions to APIs: creation, edits, plan changes, approval and quota blocks.

Every change that gateways enforce is recorded in the change feed (gateway_sync.changes) in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from foundation.audit import audit_record
from foundation.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from foundation.mail import send_after_commit
from gateway_sync import changes as config_changes
from keys.services import key_revoke
from portal.models import Application, Membership, Plan, Role, Subscription
from portal.selectors import membership_require


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
        send_after_commit(subject=subject, template=template, context={"subscription": subscription}, to=recipients)


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
# Called by analytics.quota after each ingested log batch (blocks) and by its beat task (lifts).


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
