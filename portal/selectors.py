"""Reads scoped to the requesting user's organisations. A foreign or unknown id is NotFound, never 403."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from foundation.errors import NotFound, PermissionDenied
from foundation.ids import as_object_id
from foundation.models import AuditEvent
from portal.models import (
    MANAGER_ROLES,
    Api,
    Application,
    Invitation,
    Membership,
    Organisation,
    Plan,
    Role,
    Subscription,
)


def membership_get(*, user: Any, organisation_id: Any) -> Membership:
    """The user's membership in an organisation, or NotFound if they are not a member."""
    try:
        return Membership.objects.select_related("organisation").get(
            user=user, organisation_id=as_object_id(organisation_id)
        )
    except Membership.DoesNotExist:
        raise NotFound("Organisation not found.") from None


def membership_require(membership: Membership, roles: frozenset[str] = MANAGER_ROLES) -> None:
    """Raise PermissionDenied unless the member holds one of `roles` (the caller already proved membership)."""
    if membership.role not in roles:
        needed = " or ".join(sorted(roles))
        raise PermissionDenied(f"This action needs the {needed} role in {membership.organisation.name}.")


def owner_roles() -> frozenset[str]:
    return frozenset({Role.OWNER})


def organisations_for_user(user: Any) -> QuerySet[Organisation]:
    return Organisation.objects.for_user(user).distinct()


def application_get(*, user: Any, application_id: Any) -> Application:
    try:
        return Application.objects.for_user(user).select_related("organisation").get(pk=as_object_id(application_id))
    except Application.DoesNotExist:
        raise NotFound("Application not found.") from None


def applications_for_user(user: Any) -> QuerySet[Application]:
    return Application.objects.for_user(user).select_related("organisation").distinct()


def subscription_get(*, user: Any, subscription_id: Any) -> Subscription:
    try:
        return (
            Subscription.objects.filter(application__organisation__memberships__user=user)
            .select_related("application__organisation", "api", "plan")
            .get(pk=as_object_id(subscription_id))
        )
    except Subscription.DoesNotExist:
        raise NotFound("Subscription not found.") from None


def subscriptions_for_user(user: Any) -> QuerySet[Subscription]:
    return (
        Subscription.objects.filter(application__organisation__memberships__user=user)
        .select_related("application__organisation", "api", "plan")
        .distinct()
    )


def apis_visible_to(user: Any) -> QuerySet[Api]:
    return Api.objects.visible_to(user)


def api_get_by_slug(*, user: Any, slug: str) -> Api:
    try:
        return apis_visible_to(user).get(slug=slug)
    except Api.DoesNotExist:
        raise NotFound("API not found.") from None


def plans_offered(api: Api) -> QuerySet[Plan]:
    """Plans a developer may choose for an API, in display order."""
    return api.plans.filter(is_public=True).order_by("display_order", "id")


def plan_get_offered(*, user: Any, plan_id: Any) -> Plan:
    try:
        return Plan.objects.select_related("api").get(
            pk=as_object_id(plan_id), is_public=True, api__in=apis_visible_to(user)
        )
    except Plan.DoesNotExist:
        raise NotFound("Plan not found.") from None


def audit_events_for(*, membership: Membership) -> QuerySet[AuditEvent]:
    """An organisation's audit trail, for its owners and admins only."""
    membership_require(membership)
    return AuditEvent.objects.filter(organisation=membership.organisation).select_related("actor")


# --- Added for the portal pages: members, invitations and the organisation switcher ---------------------------


def memberships_for_user(user: Any) -> QuerySet[Membership]:
    """The user's memberships with their organisations: the organisation switcher and dashboard."""
    return Membership.objects.filter(user=user).select_related("organisation").order_by("organisation__name", "pk")


def members_of(*, membership: Membership) -> QuerySet[Membership]:
    """Everyone in the member's organisation; any member may see the list."""
    return (
        Membership.objects.filter(organisation_id=membership.organisation_id)
        .select_related("user")
        .order_by("user__email", "pk")
    )


def member_get(*, membership: Membership, member_id: Any) -> Membership:
    """Another membership of the same organisation, else NotFound."""
    try:
        return members_of(membership=membership).get(pk=as_object_id(member_id))
    except Membership.DoesNotExist:
        raise NotFound("Member not found.") from None


def invitations_open(*, membership: Membership) -> QuerySet[Invitation]:
    """Invitations of the organisation that can still be accepted."""
    return Invitation.objects.filter(
        organisation_id=membership.organisation_id,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).select_related("invited_by")


def invitation_get(*, membership: Membership, invitation_id: Any) -> Invitation:
    """An invitation of the member's organisation, else NotFound."""
    try:
        return Invitation.objects.select_related("organisation").get(
            pk=as_object_id(invitation_id), organisation_id=membership.organisation_id
        )
    except Invitation.DoesNotExist:
        raise NotFound("Invitation not found.") from None


def plans_offered_to(user: Any) -> QuerySet[Plan]:
    """Every plan the user may choose, across the APIs they can see, in catalog order."""
    return (
        Plan.objects.filter(is_public=True, api__in=apis_visible_to(user))
        .select_related("api")
        .order_by("api__name", "display_order", "id")
    )
