"""Applications and their subscriptions to APIs: creation, edits, plan changes, approval and quota blocks.

Every change that gateways enforce is recorded in the change feed (gateway_sync.changes) in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from certificates.services import certificate_revoke
from foundation import events
from foundation.audit import audit_record
from foundation.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from foundation.limits import limit_check, owner_lock
from gateway_sync import changes as config_changes
from keys.services import key_revoke
from keys.services.clients import oauth_client_revoke
from portal.models import Application, Membership, Plan, Subscription
from portal.selectors import membership_require


@transaction.atomic
def application_create(*, membership: Membership, name: str, description: str = "") -> Application:
    """Any member can create applications for their organisation."""
    if not membership.organisation.is_active:
        raise PermissionDenied("This organisation is suspended.")
    owner_lock(membership.organisation)
    limit_check(
        Application.objects.filter(organisation=membership.organisation),
        limit=settings.PORTICO_MAX_APPLICATIONS_PER_ORGANISATION,
        what="applications per organisation",
    )
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
    """Deleting an application revokes its keys and OAuth clients and cancels its subscriptions."""
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
    for client in application.oauth_clients.active():
        oauth_client_revoke(actor=membership.user, client=client)  # its live tokens reach the gateways' deny-list
    for certificate in application.client_certificates.active():
        certificate_revoke(actor=membership.user, certificate=certificate)  # gateways drop it before the row goes
    application.delete()


# --- Subscriptions ---------------------------------------------------------------------------------------------


# Audit actions that are a `subscription.changed` webhook event (blocks by quota are a later slice's events).
CHANGE_EVENTS = {
    "subscription.created",
    "subscription.approved",
    "subscription.rejected",
    "subscription.cancelled",
    "subscription.plan_changed",
    "subscription.plan_change_approved",
    "subscription.plan_change_rejected",
}


def _publish_change(subscription: Subscription, action: str) -> None:
    """Tell listeners (webhooks) about the change, in its transaction; a non-event action is skipped."""
    if action not in CHANGE_EVENTS:
        return
    events.publish(
        event_type="subscription.changed",
        organisation_id=subscription.application.organisation_id,
        data={
            "change": action.removeprefix("subscription."),
            "subscription": {
                "id": subscription.pk,
                "application_id": subscription.application_id,
                "api": subscription.api.slug,
                "plan": subscription.plan.slug,
                "status": subscription.status,
            },
        },
    )


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
    _publish_change(subscription, "subscription.created")
    return subscription


@transaction.atomic
def subscription_change_plan(*, actor: Any, subscription: Subscription, plan: Plan) -> Subscription:
    """Upgrade or downgrade. A move to a plan that needs approval is a request: the current plan keeps serving
    traffic until staff approve it (the gateways see no change before then). Choosing the current plan again
    withdraws a request."""
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
        if subscription.requested_plan_id is not None:
            _plan_request_close(subscription, actor=actor, action="subscription.plan_change_withdrawn")
        return subscription
    if plan.requires_approval and subscription.status == Subscription.Status.ACTIVE:
        return _plan_request_open(subscription, actor=actor, plan=plan)
    _plan_switch(subscription, actor=actor, plan=plan, action="subscription.plan_changed")
    return subscription


def _subscription_update(
    subscription: Subscription,
    changes: dict[str, Any],
    *,
    action: str,
    actor: Any = None,
    actor_label: str = "",
    data: dict[str, Any] | None = None,
    publish: bool = True,
) -> Subscription:
    """Apply and save `changes`, record them in the audit trail and, when gateways enforce them, in the feed."""
    for field, value in changes.items():
        setattr(subscription, field, value)
    subscription.save(update_fields=list(changes))
    audit_record(
        action=action,
        actor=actor,
        actor_label=actor_label,
        organisation=subscription.application.organisation,
        target=subscription,
        data=data,
    )
    if publish:
        config_changes.record_subscriptions([subscription])
    _publish_change(subscription, action)
    return subscription


def _plan_request_open(subscription: Subscription, *, actor: Any, plan: Plan) -> Subscription:
    """Ask staff for `plan`; a newer request replaces an older one. The gateways keep the current plan."""
    return _subscription_update(
        subscription,
        {"requested_plan": plan, "plan_requested_at": timezone.now()},
        action="subscription.plan_change_requested",
        actor=actor,
        data={"from": subscription.plan.slug, "to": plan.slug},
        publish=False,
    )


def _plan_request_close(subscription: Subscription, *, actor: Any, action: str) -> None:
    """Drop a request (withdrawn or rejected); the current plan stays, so the gateways hear nothing."""
    requested = subscription.requested_plan
    _subscription_update(
        subscription,
        {"requested_plan": None, "plan_requested_at": None},
        action=action,
        actor=actor,
        data={"plan": subscription.plan.slug, "requested": requested.slug if requested else ""},
        publish=False,
    )


def _plan_switch(subscription: Subscription, *, actor: Any, plan: Plan, action: str) -> None:
    """Move to `plan` now and publish it to the gateways; a pending request is settled by the move."""
    old_plan = subscription.plan
    # A new plan means new quotas: any block from the old plan is lifted and re-evaluated.
    changes = {"plan": plan, "requested_plan": None, "plan_requested_at": None, "blocked_until": None}
    _subscription_update(
        subscription,
        {**changes, "blocked_reason": ""},
        action=action,
        actor=actor,
        data={"from": old_plan.slug, "to": plan.slug, "status": subscription.status},
    )


@transaction.atomic
def subscription_cancel(*, actor: Any, subscription: Subscription) -> Subscription:
    """End a subscription; idempotent, and a rejected one stays rejected."""
    subscription = (
        Subscription.objects.select_for_update().select_related("application__organisation").get(pk=subscription.pk)
    )
    if subscription.status in (Subscription.Status.CANCELLED, Subscription.Status.REJECTED):
        return subscription
    changes = {"status": Subscription.Status.CANCELLED, "cancelled_at": timezone.now()}
    return _subscription_update(subscription, changes, action="subscription.cancelled", actor=actor)


def _pending_for_update(subscription: Subscription) -> Subscription:
    """The subscription, locked, if it waits for a decision: a new subscription or a requested plan change."""
    subscription = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("api", "plan", "requested_plan", "application__organisation")
        .get(pk=subscription.pk)
    )
    if subscription.status != Subscription.Status.PENDING and subscription.requested_plan_id is None:
        raise Conflict(f"Nothing waits for approval on this subscription (it is {subscription.status}).")
    return subscription


@transaction.atomic
def subscription_approve(*, actor: Any, subscription: Subscription) -> Subscription:
    """Staff approve a pending subscription or a requested plan change (owners and admins are emailed)."""
    subscription = _pending_for_update(subscription)
    if subscription.status == Subscription.Status.PENDING:
        changes = {"status": Subscription.Status.ACTIVE, "activated_at": timezone.now()}
        _subscription_update(subscription, changes, action="subscription.approved", actor=actor)
    else:
        plan = subscription.requested_plan
        assert plan is not None  # _pending_for_update checked it
        _plan_switch(subscription, actor=actor, plan=plan, action="subscription.plan_change_approved")
    # The owners and admins are emailed by the notifications app, from the subscription.changed event.
    return subscription


@transaction.atomic
def subscription_reject(*, actor: Any, subscription: Subscription) -> Subscription:
    """Staff decline a pending subscription (it ends) or a requested plan change (the current plan stays)."""
    subscription = _pending_for_update(subscription)
    if subscription.status == Subscription.Status.PENDING:
        changes = {"status": Subscription.Status.REJECTED}
        _subscription_update(subscription, changes, action="subscription.rejected", actor=actor)
    else:
        _plan_request_close(subscription, actor=actor, action="subscription.plan_change_rejected")
    # The owners and admins are emailed by the notifications app, from the subscription.changed event.
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
    return _subscription_update(
        subscription,
        {"blocked_until": until, "blocked_reason": reason},
        action="subscription.blocked",
        actor_label="quota enforcement",
        data={"reason": reason, "until": until.isoformat()},
    )


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
    return _subscription_update(
        subscription,
        {"blocked_until": None, "blocked_reason": ""},
        action="subscription.unblocked",
        actor_label="quota enforcement",
        data={"reason": subscription.blocked_reason},
    )
