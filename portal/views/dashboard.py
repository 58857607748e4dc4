"""The landing page after sign-in: where am I, what do I have, what is waiting."""

from __future__ import annotations

from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from portal.models import Subscription
from portal.selectors import apis_visible_to, applications_for_user, subscriptions_for_user
from portal.views.common import current_membership, portal_view, user_memberships


@portal_view
def dashboard(request: HttpRequest) -> HttpResponse:
    """The current organisation's applications with key and subscription counts, and pending approvals."""
    membership = current_membership(request)
    context: dict[str, object] = {"memberships": user_memberships(request), "membership": membership}
    if membership is not None:
        now = timezone.now()
        usable_keys = Q(keys__status="active") & (Q(keys__expires_at__isnull=True) | Q(keys__expires_at__gt=now))
        live_subscriptions = ~Q(subscriptions__status__in=[Subscription.Status.CANCELLED, Subscription.Status.REJECTED])
        applications = list(
            applications_for_user(request.user)
            .filter(organisation=membership.organisation)
            .annotate(
                key_count=Count("keys", filter=usable_keys, distinct=True),
                subscription_count=Count("subscriptions", filter=live_subscriptions, distinct=True),
            )
            .order_by("name", "pk")
        )
        context["applications"] = applications
        context["key_total"] = sum(app.key_count for app in applications)
        context["pending_subscriptions"] = subscriptions_for_user(request.user).filter(
            application__organisation=membership.organisation, status=Subscription.Status.PENDING
        )
        context["api_count"] = apis_visible_to(request.user).count()
    return render(request, "portal/dashboard.html", context)
