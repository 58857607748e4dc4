"""Applications and their subscriptions: list, create, edit, delete; subscribe, change plan, cancel.

Any member may create applications and manage subscriptions; editing and deleting an application are for
owners and admins, because they affect every key and subscription of it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from foundation.errors import ApplicationError
from portal.forms import ApplicationForm, ChangePlanForm, SubscribeForm
from portal.models import Application, Membership, Plan, Subscription
from portal.selectors import (
    application_get,
    applications_for_user,
    membership_require,
    plans_offered,
    plans_offered_to,
    subscription_get,
)
from portal.services import applications as application_services
from portal.views.common import (
    add_service_error,
    current_membership,
    is_access_error,
    membership_of,
    organisation_membership,
    portal_view,
    render_confirm,
    safe_next,
)


@portal_view
def application_index(request: HttpRequest) -> HttpResponse:
    """The navigation's "Applications" link: the current organisation's list."""
    membership = current_membership(request)
    if membership is None:
        return redirect("portal:organisation_create")
    return redirect("portal:application_list", organisation_id=membership.organisation_id)


@portal_view
def application_list(request: HttpRequest, organisation_id: int) -> HttpResponse:
    membership = organisation_membership(request, organisation_id)
    now = timezone.now()
    usable_keys = Q(keys__status="active") & (Q(keys__expires_at__isnull=True) | Q(keys__expires_at__gt=now))
    applications = (
        applications_for_user(request.user)
        .filter(organisation=membership.organisation)
        .annotate(
            key_count=Count("keys", filter=usable_keys, distinct=True),
            subscription_count=Count(
                "subscriptions",
                filter=~Q(subscriptions__status__in=[Subscription.Status.CANCELLED, Subscription.Status.REJECTED]),
                distinct=True,
            ),
        )
        .order_by("name", "pk")
    )
    return render(request, "portal/application_list.html", {"membership": membership, "applications": applications})


@portal_view
@require_http_methods(["GET", "POST"])
def application_create(request: HttpRequest, organisation_id: int) -> HttpResponse:
    membership = organisation_membership(request, organisation_id)
    form = ApplicationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            application = application_services.application_create(membership=membership, **form.cleaned_data)
        except (ApplicationError, ValidationError) as error:
            if is_access_error(error):
                raise
            add_service_error(form, error)
        else:
            messages.success(request, f"Application {application.name} created. Subscribe it to an API next.")
            back = safe_next(request, fallback="")
            if back:
                return redirect(back)  # e.g. the API page the developer came from, to subscribe the new application
            return redirect("portal:application_detail", application_id=application.pk)
    return render(request, "portal/application_form.html", {"form": form, "membership": membership})


# --- Detail: subscriptions and keys --------------------------------------------------------------------------


def _application_page(
    request: HttpRequest,
    application: Application,
    membership: Membership,
    *,
    subscribe_form: SubscribeForm | None = None,
    plan_forms: dict[int, ChangePlanForm] | None = None,
) -> HttpResponse:
    """The application with its live subscriptions (each with a plan switcher) and its keys by state."""
    now = timezone.now()
    subscriptions = list(
        application.subscriptions.live().select_related("api", "plan", "requested_plan").order_by("api__name")
    )
    plan_forms = plan_forms or {}
    for subscription in subscriptions:
        subscription.state = subscription.state_at(now)
        subscription.state_description = subscription.state_description_at(now)
        subscription.plan_form = plan_forms.get(subscription.pk) or ChangePlanForm(
            initial={"plan": subscription.plan_id}, plans=_plan_choices(subscription), prefix=f"s{subscription.pk}"
        )
    subscribed_apis = [s.api_id for s in subscriptions]
    keys = list(application.keys.select_related("replaced_by").prefetch_related("apis"))
    for key in keys:
        key.state = key.state_at(now)
    oauth_clients = list(application.oauth_clients.all())
    for client in oauth_clients:
        client.state = client.state_at(now)
    context: dict[str, Any] = {
        "application": application,
        "membership": membership,
        "subscriptions": subscriptions,
        "subscribe_form": subscribe_form
        or SubscribeForm(plans=plans_offered_to(request.user).exclude(api_id__in=subscribed_apis)),
        "current_keys": [k for k in keys if k.state in ("active", "grace")],
        "past_keys": [k for k in keys if k.state in ("expired", "revoked")],
        "oauth_clients": [c for c in oauth_clients if c.state != "revoked"],
        "revoked_oauth_clients": [c for c in oauth_clients if c.state == "revoked"],
        "now": now,
    }
    return render(request, "portal/application_detail.html", context)


def _plan_choices(subscription: Subscription) -> QuerySet[Plan]:
    """The public plans of the API, plus the current one even if staff granted a non-public plan."""
    return (plans_offered(subscription.api) | Plan.objects.filter(pk=subscription.plan_id)).order_by(
        "display_order", "id"
    )


def _application_and_membership(request: HttpRequest, application_id: int) -> tuple[Application, Membership]:
    application = application_get(user=request.user, application_id=application_id)
    return application, membership_of(request, application.organisation_id)


@portal_view
def application_detail(request: HttpRequest, application_id: int) -> HttpResponse:
    application, membership = _application_and_membership(request, application_id)
    return _application_page(request, application, membership)


@portal_view
@require_http_methods(["GET", "POST"])
def application_edit(request: HttpRequest, application_id: int) -> HttpResponse:
    application, membership = _application_and_membership(request, application_id)
    membership_require(membership)
    initial = {"name": application.name, "description": application.description}
    form = ApplicationForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            application_services.application_update(membership=membership, application=application, **form.cleaned_data)
        except (ApplicationError, ValidationError) as error:
            if is_access_error(error):
                raise
            add_service_error(form, error)
        else:
            messages.success(request, "Application saved.")
            return redirect("portal:application_detail", application_id=application.pk)
    return render(
        request,
        "portal/application_form.html",
        {"form": form, "membership": membership, "application": application},
    )


@portal_view
@require_http_methods(["GET", "POST"])
def application_delete(request: HttpRequest, application_id: int) -> HttpResponse:
    application, membership = _application_and_membership(request, application_id)
    membership_require(membership)
    if request.method == "POST":
        application_services.application_delete(membership=membership, application=application)
        messages.success(request, f"Application {application.name} deleted; its keys are revoked.")
        return redirect("portal:application_list", organisation_id=membership.organisation_id)
    keys = application.keys.filter(status="active").count()
    return render_confirm(
        request,
        title=f"Delete {application.name}?",
        message=f"Its subscriptions are cancelled and its {keys} active key{pluralize(keys)} "
        "will stop working at once. This cannot be undone.",
        confirm_label="Delete application",
        cancel_url=reverse("portal:application_detail", args=[application.pk]),
    )


@portal_view
@require_POST
def application_subscribe(request: HttpRequest, application_id: int) -> HttpResponse:
    application, membership = _application_and_membership(request, application_id)
    form = SubscribeForm(request.POST, plans=plans_offered_to(request.user))
    if form.is_valid():
        plan = form.cleaned_data["plan"]
        try:
            subscription = application_services.subscription_create(
                actor=request.user, application=application, plan=plan
            )
        except (ApplicationError, ValidationError) as error:
            if is_access_error(error):
                raise
            add_service_error(form, error)
        else:
            if subscription.status == Subscription.Status.PENDING:
                messages.info(request, f"Subscription to {plan.api.name} on {plan.name} is pending approval.")
            else:
                messages.success(request, f"Subscribed to {plan.api.name} on {plan.name}.")
            return redirect("portal:application_detail", application_id=application.pk)
    return _application_page(request, application, membership, subscribe_form=form)


@portal_view
@require_POST
def subscription_change_plan(request: HttpRequest, subscription_id: int) -> HttpResponse:
    """Upgrade or downgrade; a plan needing approval is requested, and the current one serves until approved."""
    subscription = subscription_get(user=request.user, subscription_id=subscription_id)
    application = subscription.application
    membership = membership_of(request, application.organisation_id)
    form = ChangePlanForm(request.POST, plans=_plan_choices(subscription), prefix=f"s{subscription.pk}")
    if form.is_valid():
        old_plan = subscription.plan
        try:
            changed = application_services.subscription_change_plan(
                actor=request.user, subscription=subscription, plan=form.cleaned_data["plan"]
            )
        except (ApplicationError, ValidationError) as error:
            if is_access_error(error):
                raise
            add_service_error(form, error)
        else:
            if changed.requested_plan is not None:
                messages.info(
                    request,
                    f"{changed.api.name} moves to {changed.requested_plan.name} once staff approve it; "
                    f"{changed.plan.name} keeps serving your traffic until then.",
                )
            elif changed.plan_id == old_plan.pk:
                messages.info(request, f"{subscription.api.name} stays on {old_plan.name}.")
            else:
                messages.success(request, f"{changed.api.name} now uses {changed.plan.name}.")
            return redirect("portal:application_detail", application_id=application.pk)
    return _application_page(request, application, membership, plan_forms={subscription.pk: form})


@portal_view
@require_http_methods(["GET", "POST"])
def subscription_cancel(request: HttpRequest, subscription_id: int) -> HttpResponse:
    subscription = subscription_get(user=request.user, subscription_id=subscription_id)
    application = subscription.application
    membership_of(request, application.organisation_id)
    detail_url = reverse("portal:application_detail", args=[application.pk])
    if request.method == "POST":
        application_services.subscription_cancel(actor=request.user, subscription=subscription)
        messages.success(request, f"Subscription to {subscription.api.name} cancelled.")
        return redirect(detail_url)
    return render_confirm(
        request,
        title=f"Cancel {subscription.api.name} for {application.name}?",
        message=f"Keys of {application.name} stop working for {subscription.api.name} at once. "
        "You can subscribe again later.",
        confirm_label="Cancel subscription",
        cancel_url=detail_url,
    )
