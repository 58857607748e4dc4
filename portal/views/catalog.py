"""The API catalog: what can be called, on which plans, and how (the OpenAPI document rendered server-side).

Browsing is public, like any developer portal's catalog; subscribing needs an account.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from csp.decorators import csp_update
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from foundation.errors import ApplicationError
from portal.forms import CatalogSubscribeForm
from portal.models import Api
from portal.selectors import (
    api_get_by_slug,
    apis_visible_to,
    applications_for_user,
    plans_offered,
    subscriptions_for_user,
)
from portal.services.applications import subscription_create
from portal.views.common import add_service_error, current_membership, is_access_error, render_page, service_errors

MAX_QUERY = 100


@require_GET
def catalog(request: HttpRequest) -> HttpResponse:
    """Public APIs, searchable by name and description; htmx swaps only the result list while typing."""
    query = request.GET.get("q", "").strip()[:MAX_QUERY]
    apis = apis_visible_to(request.user).annotate(plan_count=Count("plans", filter=Q(plans__is_public=True)))
    if query:
        apis = apis.filter(Q(name__icontains=query) | Q(description__icontains=query) | Q(slug__icontains=query))
    return render_page(
        request, "portal/catalog.html", {"apis": apis, "query": query}, partial="portal/partials/api_list.html"
    )


def gateway_origin() -> str:
    """scheme://host[:port] of the public gateway address, as CSP's connect-src wants it."""
    parts = urlsplit(settings.PORTICO_GATEWAY_URL)
    return f"{parts.scheme}://{parts.netloc}"


def _api_page(request: HttpRequest, api: Api, form: CatalogSubscribeForm | None = None) -> HttpResponse:
    plans = plans_offered(api)
    plan_list = list(plans)
    context: dict[str, Any] = {
        "api": api,
        "plans": plan_list,
        "plans_described": any(plan.description for plan in plan_list),
    }
    context["gateway_base_url"] = f"{settings.PORTICO_GATEWAY_URL}{api.path_prefix}"
    context["first_request_url"] = f"{settings.PORTICO_GATEWAY_URL}{api.first_request_path()}"
    if request.user.is_authenticated:
        applications = applications_for_user(request.user).order_by("organisation__name", "name")
        context["subscribe_form"] = form or CatalogSubscribeForm(applications=applications, plans=plans)
        context["has_applications"] = applications.exists()
        context["my_subscriptions"] = subscriptions_for_user(request.user).live().filter(api=api)
        membership = current_membership(request)
        if membership is not None:
            # Create the application in the current organisation, then come back here to subscribe it.
            back = quote(f"{request.path}#subscribe")
            context["create_application_url"] = (
                reverse("portal:application_create", args=[membership.organisation_id]) + f"?next={back}"
            )
    return render_page(request, "portal/api_detail.html", context)


@require_GET
@service_errors
def api_detail(request: HttpRequest, slug: str) -> HttpResponse:
    return _api_page(request, api_get_by_slug(user=request.user, slug=slug))


@login_required
@require_GET
@service_errors
@csp_update({"connect-src": [gateway_origin()]})  # only this page may call the gateway from the browser
def api_console(request: HttpRequest, slug: str) -> HttpResponse:
    """Try the API in the browser, through the gateway, with a key the developer pastes (kept in page memory)."""
    api = api_get_by_slug(user=request.user, slug=slug)
    subscriptions = subscriptions_for_user(request.user).live().filter(api=api).select_related("application", "plan")
    context = {
        "api": api,
        "subscriptions": subscriptions,
        "gateway_base_url": f"{settings.PORTICO_GATEWAY_URL}{api.path_prefix}",
        "problem_pages_url": reverse("portal:problem_list"),
    }
    return render_page(request, "portal/api_console.html", context)


@login_required
@require_POST
@service_errors
def api_subscribe(request: HttpRequest, slug: str) -> HttpResponse:
    """Subscribe one of the user's applications; a plan that needs approval leaves it pending."""
    api = api_get_by_slug(user=request.user, slug=slug)
    form = CatalogSubscribeForm(
        request.POST, applications=applications_for_user(request.user), plans=plans_offered(api)
    )
    if form.is_valid():
        application, plan = form.cleaned_data["application"], form.cleaned_data["plan"]
        try:
            subscription = subscription_create(actor=request.user, application=application, plan=plan)
        except (ApplicationError, ValidationError) as error:
            if is_access_error(error):
                raise
            add_service_error(form, error)
        else:
            _announce(request, subscription.status, application.name, api.name, plan.name)
            return redirect("portal:application_detail", application_id=application.pk)
    return _api_page(request, api, form)


def _announce(request: HttpRequest, status: str, application: str, api: str, plan: str) -> None:
    if status == "pending":
        messages.info(request, f"{application} asked for {api} on {plan}. It is pending until an admin approves it.")
    else:
        messages.success(request, f"{application} is subscribed to {api} on {plan}.")
