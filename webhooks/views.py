"""Portal pages for an organisation's webhooks: register, reveal the secret once, rotate, disable, delete, send a
test event, read the delivery log and send a delivery again. Members look; owners and admins act."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from foundation.errors import ApplicationError
from gateway_sync import secrets as secret_box
from portal.models import Membership
from portal.selectors import membership_require
from portal.views.common import (
    add_service_error,
    is_access_error,
    membership_of,
    organisation_membership,
    portal_view,
    render_confirm,
)
from webhooks import selectors, services
from webhooks.forms import EndpointForm
from webhooks.models import Endpoint

REVEAL_SESSION_KEY = "portico_webhook_secret"
REVEAL_SECONDS = 600  # a new secret can be shown for this long after it is made, once
LOG_PAGE_SIZE = 20


def _stash_secret(request: HttpRequest, endpoint_id: int, secret: str) -> None:
    """Carry a new secret to the endpoint page, encrypted, so the session table never holds it in plaintext."""
    request.session[REVEAL_SESSION_KEY] = {"id": endpoint_id, "secret": secret_box.encrypt(secret)}


def _take_secret(request: HttpRequest, endpoint_id: int) -> str | None:
    stash = request.session.pop(REVEAL_SESSION_KEY, None)
    if not (isinstance(stash, dict) and stash.get("id") == endpoint_id):
        return None
    try:
        return secret_box.decrypt(str(stash.get("secret") or ""), max_age_seconds=REVEAL_SECONDS)
    except ValueError:
        return None


def _endpoint_in_scope(request: HttpRequest, endpoint_id: int) -> tuple[Endpoint, Membership]:
    endpoint = selectors.endpoint_get(user=request.user, endpoint_id=endpoint_id)
    return endpoint, membership_of(request, endpoint.organisation_id)


@portal_view
@require_http_methods(["GET", "POST"])
def endpoint_list(request: HttpRequest, organisation_id: int) -> HttpResponse:
    membership = organisation_membership(request, organisation_id)
    form = EndpointForm(request.POST or None)
    if request.method == "POST":
        membership_require(membership)
        if form.is_valid():
            try:
                endpoint, secret = services.endpoint_create(membership=membership, **form.cleaned_data)
            except ApplicationError as error:
                if is_access_error(error):
                    raise
                add_service_error(form, error)
            else:
                _stash_secret(request, endpoint.pk, secret)
                return redirect("webhooks:endpoint_detail", endpoint_id=endpoint.pk)
    context = {
        "membership": membership,
        "organisation": membership.organisation,
        "endpoints": selectors.endpoints_of(membership.organisation_id),
        "form": form,
    }
    return render(request, "webhooks/endpoint_list.html", context)


@never_cache
@portal_view
@require_GET
def endpoint_detail(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint, membership = _endpoint_in_scope(request, endpoint_id)
    form = EndpointForm(
        initial={"url": endpoint.url, "description": endpoint.description, "event_types": endpoint.event_types}
    )
    return _detail_page(request, endpoint, membership, form, revealed=_take_secret(request, endpoint.pk))


def _detail_page(
    request: HttpRequest,
    endpoint: Endpoint,
    membership: Membership,
    form: EndpointForm,
    *,
    revealed: str | None = None,
) -> HttpResponse:
    """The endpoint with its delivery log; `revealed` is a secret made just now, shown this once."""
    page = Paginator(selectors.deliveries_of(endpoint), LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"endpoint": endpoint, "membership": membership, "secret": revealed, "page": page, "form": form}
    return render(request, "webhooks/endpoint_detail.html", context)


@portal_view
@require_POST
def endpoint_edit(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint, membership = _endpoint_in_scope(request, endpoint_id)
    membership_require(membership)
    form = EndpointForm(request.POST)
    if form.is_valid():
        try:
            services.endpoint_update(membership=membership, endpoint=endpoint, **form.cleaned_data)
        except ApplicationError as error:
            if is_access_error(error):
                raise
            add_service_error(form, error)
        else:
            messages.success(request, "Endpoint saved.")
            return redirect("webhooks:endpoint_detail", endpoint_id=endpoint.pk)
    return _detail_page(request, endpoint, membership, form)


@portal_view
@require_POST
def endpoint_toggle(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint, membership = _endpoint_in_scope(request, endpoint_id)
    services.endpoint_update(membership=membership, endpoint=endpoint, is_active=not endpoint.is_active)
    messages.success(
        request, "Endpoint disabled." if endpoint.is_active else "Endpoint enabled; waiting events are sent now."
    )
    return redirect("webhooks:endpoint_detail", endpoint_id=endpoint.pk)


@portal_view
@require_POST
def endpoint_rotate(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint, membership = _endpoint_in_scope(request, endpoint_id)
    endpoint, secret = services.endpoint_rotate_secret(membership=membership, endpoint=endpoint)
    _stash_secret(request, endpoint.pk, secret)
    return redirect("webhooks:endpoint_detail", endpoint_id=endpoint.pk)


@portal_view
@require_POST
def endpoint_test(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint, membership = _endpoint_in_scope(request, endpoint_id)
    services.endpoint_send_test(membership=membership, endpoint=endpoint)
    messages.success(request, "Test event queued; reload to see its delivery.")
    return redirect("webhooks:endpoint_detail", endpoint_id=endpoint.pk)


@portal_view
@require_http_methods(["GET", "POST"])
def endpoint_delete(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint, membership = _endpoint_in_scope(request, endpoint_id)
    membership_require(membership)
    if request.method == "POST":
        services.endpoint_delete(membership=membership, endpoint=endpoint)
        messages.success(request, "Endpoint deleted.")
        return redirect("webhooks:endpoint_list", organisation_id=membership.organisation_id)
    return render_confirm(
        request,
        title="Delete this webhook endpoint?",
        message=f"{endpoint.url} will receive no more events, and its delivery log is deleted too.",
        confirm_label="Delete endpoint",
        cancel_url=reverse("webhooks:endpoint_detail", args=[endpoint.pk]),
    )


@portal_view
@require_POST
def delivery_resend(request: HttpRequest, delivery_id: int) -> HttpResponse:
    delivery = selectors.delivery_get(user=request.user, delivery_id=delivery_id)
    membership = membership_of(request, delivery.endpoint.organisation_id)
    services.delivery_resend(membership=membership, delivery=delivery)
    messages.success(request, f"Event {delivery.event_id} will be sent again.")
    return redirect("webhooks:endpoint_detail", endpoint_id=delivery.endpoint_id)
