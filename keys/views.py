"""API keys and personal access tokens: create, reveal once, edit, rotate, revoke.

A secret exists in clear only in the service's return value. The page that created it stashes it in the
session and redirects (so a reload never issues a second key); the reveal page pops it on its first GET,
answers `Cache-Control: no-store`, and afterwards shows only `prefix…last4`.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from foundation.errors import ApplicationError
from gateway_sync import secrets as secret_box
from keys import selectors, services
from keys.forms import AccessTokenForm, KeyCreateForm, KeyEditForm, OAuthClientForm, OAuthClientRotateForm, RotateForm
from keys.models import ApiKey, OAuthClient
from keys.services import clients as client_services
from keys.snippets import first_calls, token_request_curl
from portal.selectors import application_get
from portal.views.common import add_service_error, is_access_error, membership_of, portal_view, render_confirm

REVEAL_SESSION_KEY = "portico_reveal"
REVEAL_SECONDS = 600  # a new secret can be shown for this long after it is made, once


def _stash_secret(request: HttpRequest, kind: str, object_id: int, secret: str) -> None:
    """Carry a new secret to its reveal page: encrypted, so the session table never holds it in plaintext, and
    readable for REVEAL_SECONDS only."""
    request.session[REVEAL_SESSION_KEY] = {"kind": kind, "id": object_id, "secret": secret_box.encrypt(secret)}


def _take_secret(request: HttpRequest, kind: str, object_id: int) -> str | None:
    """The stashed secret if it belongs to this object and is fresh; any visit to a reveal page drops the stash."""
    stash = request.session.pop(REVEAL_SESSION_KEY, None)
    if not (isinstance(stash, dict) and stash.get("kind") == kind and stash.get("id") == object_id):
        return None
    try:
        return secret_box.decrypt(str(stash.get("secret") or ""), max_age_seconds=REVEAL_SECONDS)
    except ValueError:
        return None  # older than the reveal window: the key must be rotated to be seen again


def _key_in_scope(request: HttpRequest, key_id: int) -> ApiKey:
    key = selectors.key_get(user=request.user, key_id=key_id)
    membership_of(request, key.application.organisation_id)
    return key


# --- API keys ------------------------------------------------------------------------------------------------


@portal_view
@require_http_methods(["GET", "POST"])
def key_create(request: HttpRequest, application_id: int) -> HttpResponse:
    application = application_get(user=request.user, application_id=application_id)
    membership_of(request, application.organisation_id)
    apis = selectors.key_scope_choices(application)
    form = KeyCreateForm(request.POST or None, apis=apis)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            key, secret = services.key_issue(
                actor=request.user,
                application=application,
                name=data["name"],
                environment=data["environment"],
                expires_at=data["expires_at"],
                allowed_cidrs=data["allowed_cidrs"],
                apis=data["apis"],
            )
        except (ApplicationError, ValidationError) as error:
            if is_access_error(error):
                raise
            add_service_error(form, error)
        else:
            _stash_secret(request, "key", key.pk, secret)
            return redirect("portal:key_reveal", key_id=key.pk)
    return render(
        request, "keys/key_form.html", {"form": form, "application": application, "has_subscriptions": apis.exists()}
    )


@never_cache
@portal_view
def key_reveal(request: HttpRequest, key_id: int) -> HttpResponse:
    key = _key_in_scope(request, key_id)
    secret = _take_secret(request, "key", key.pk)
    # How to call each API the key works for, so the developer can try it right away.
    apis = list(key.apis.all()) or list(selectors.key_scope_choices(key.application))
    context = {
        "key": key,
        "secret": secret,
        "application": key.application,
        "first_calls": first_calls(apis=apis, gateway_url=settings.PORTICO_GATEWAY_URL, secret=secret)
        if secret
        else [],
    }
    return render(request, "keys/key_reveal.html", context)


@portal_view
@require_http_methods(["GET", "POST"])
def key_edit(request: HttpRequest, key_id: int) -> HttpResponse:
    key = _key_in_scope(request, key_id)
    initial = {"name": key.name, "allowed_cidrs": "\n".join(key.allowed_cidrs), "apis": list(key.apis.all())}
    form = KeyEditForm(request.POST or None, initial=initial, apis=selectors.key_scope_choices(key.application))
    if request.method == "POST" and form.is_valid():
        try:
            services.key_update(actor=request.user, key=key, **form.cleaned_data)
        except (ApplicationError, ValidationError) as error:
            if is_access_error(error):
                raise
            add_service_error(form, error)
        else:
            messages.success(request, f"Key {key.masked} saved.")
            return redirect("portal:application_detail", application_id=key.application_id)
    return render(request, "keys/key_edit.html", {"form": form, "key": key, "application": key.application})


@portal_view
@require_http_methods(["GET", "POST"])
def key_rotate(request: HttpRequest, key_id: int) -> HttpResponse:
    """Issue a successor; the current key keeps working for the chosen grace period, then dies."""
    key = _key_in_scope(request, key_id)
    form = RotateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            successor, secret = services.key_rotate(actor=request.user, key=key, grace=form.grace_period())
        except (ApplicationError, ValidationError) as error:
            if is_access_error(error):
                raise
            add_service_error(form, error)
        else:
            _stash_secret(request, "key", successor.pk, secret)
            return redirect("portal:key_reveal", key_id=successor.pk)
    return render(
        request,
        "keys/key_rotate.html",
        {"form": form, "key": key, "application": key.application, "usable": key.is_usable_at(timezone.now())},
    )


@portal_view
@require_http_methods(["GET", "POST"])
def key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    key = _key_in_scope(request, key_id)
    detail_url = reverse("portal:application_detail", args=[key.application_id])
    if request.method == "POST":
        services.key_revoke(actor=request.user, key=key)
        messages.success(request, f"Key {key.name} ({key.masked}) revoked. Gateways refuse it within seconds.")
        return redirect(detail_url)
    return render_confirm(
        request,
        title=f"Revoke {key.name}?",
        message=f"Requests with {key.masked} are refused from now on. This cannot be undone; "
        "to replace a key without downtime, rotate it instead.",
        confirm_label="Revoke key",
        cancel_url=detail_url,
    )


# --- OAuth clients (client credentials) -------------------------------------------------------------------------


def _client_in_scope(request: HttpRequest, oauth_client_id: int) -> OAuthClient:
    client = selectors.oauth_client_get(user=request.user, oauth_client_id=oauth_client_id)
    membership_of(request, client.application.organisation_id)
    return client


@portal_view
@require_http_methods(["GET", "POST"])
def client_create(request: HttpRequest, application_id: int) -> HttpResponse:
    application = application_get(user=request.user, application_id=application_id)
    membership_of(request, application.organisation_id)
    form = OAuthClientForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            client, secret = client_services.oauth_client_issue(
                actor=request.user,
                application=application,
                name=form.cleaned_data["name"],
                environment=form.cleaned_data["environment"],
            )
        except (ApplicationError, ValidationError) as error:
            if is_access_error(error):
                raise
            add_service_error(form, error)
        else:
            _stash_secret(request, "oauth_client", client.pk, secret)
            return redirect("portal:oauth_client_reveal", oauth_client_id=client.pk)
    return render(request, "keys/client_form.html", {"form": form, "application": application})


@never_cache
@portal_view
def client_reveal(request: HttpRequest, oauth_client_id: int) -> HttpResponse:
    """The new secret, once, with the token request that uses it."""
    client = _client_in_scope(request, oauth_client_id)
    secret = _take_secret(request, "oauth_client", client.pk)
    curl = ""
    if secret:
        curl = token_request_curl(
            token_url=request.build_absolute_uri(reverse("consumer_oauth:token")),
            client_id=client.client_id,
            secret=secret,
            scopes=client_services.subscribed_scopes(client.application),
        )
    context = {"client": client, "secret": secret, "application": client.application, "curl": curl}
    return render(request, "keys/client_reveal.html", context)


@portal_view
@require_http_methods(["GET", "POST"])
def client_rotate(request: HttpRequest, oauth_client_id: int) -> HttpResponse:
    """A new secret; the current one keeps working for the chosen grace period."""
    client = _client_in_scope(request, oauth_client_id)
    form = OAuthClientRotateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            client, secret = client_services.oauth_client_rotate(
                actor=request.user, client=client, grace=form.grace_period()
            )
        except (ApplicationError, ValidationError) as error:
            if is_access_error(error):
                raise
            add_service_error(form, error)
        else:
            _stash_secret(request, "oauth_client", client.pk, secret)
            return redirect("portal:oauth_client_reveal", oauth_client_id=client.pk)
    return render(
        request, "keys/client_rotate.html", {"form": form, "client": client, "application": client.application}
    )


@portal_view
@require_http_methods(["GET", "POST"])
def client_revoke(request: HttpRequest, oauth_client_id: int) -> HttpResponse:
    client = _client_in_scope(request, oauth_client_id)
    detail_url = reverse("portal:application_detail", args=[client.application_id])
    if request.method == "POST":
        client_services.oauth_client_revoke(actor=request.user, client=client)
        messages.success(request, f"OAuth client {client.name} revoked, with all its tokens.")
        return redirect(detail_url)
    return render_confirm(
        request,
        title=f"Revoke {client.name}?",
        # Named by its name and masked secret: the long client id would not wrap on a phone.
        message=f"{client.name} ({client.masked_secret}) can no longer get tokens, and the tokens it holds "
        "are refused from now on. This cannot be undone; to replace a secret without downtime, rotate it instead.",
        confirm_label="Revoke client",
        cancel_url=detail_url,
    )


# --- Personal access tokens ----------------------------------------------------------------------------------


def _token_page(request: HttpRequest, form: AccessTokenForm) -> HttpResponse:
    now = timezone.now()
    tokens = list(request.user.access_tokens.all())
    for token in tokens:
        token.usable = token.is_usable_at(now)
    return render(request, "keys/token_list.html", {"form": form, "tokens": tokens, "now": now})


@portal_view
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    """The user's tokens for the Portico REST API, and a form to create one (shown once)."""
    form = AccessTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        lifetime = form.lifetime_delta()
        try:
            token, secret = services.access_token_issue(
                user=request.user,
                name=form.cleaned_data["name"],
                expires_at=timezone.now() + lifetime if lifetime else None,
            )
        except (ApplicationError, ValidationError) as error:
            add_service_error(form, error)
        else:
            _stash_secret(request, "token", token.pk, secret)
            return redirect("portal:token_reveal", token_id=token.pk)
    return _token_page(request, form)


@never_cache
@portal_view
def token_reveal(request: HttpRequest, token_id: int) -> HttpResponse:
    token = selectors.access_token_get(user=request.user, token_id=token_id)
    context = {
        "token": token,
        "secret": _take_secret(request, "token", token.pk),
        "api_index_url": request.build_absolute_uri(reverse("portal_api:index")),
    }
    return render(request, "keys/token_reveal.html", context)


@portal_view
@require_http_methods(["GET", "POST"])
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = selectors.access_token_get(user=request.user, token_id=token_id)
    list_url = reverse("portal:token_list")
    if request.method == "POST":
        services.access_token_revoke(user=request.user, token=token)
        messages.success(request, f"Token {token.name} revoked.")
        return redirect(list_url)
    return render_confirm(
        request,
        title=f"Revoke token {token.name}?",
        message=f"Scripts using {token.prefix}…{token.last4} lose access to the Portico API at once.",
        confirm_label="Revoke token",
        cancel_url=list_url,
    )
