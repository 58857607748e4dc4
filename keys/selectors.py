"""Reads of keys and access tokens, scoped to the requester: a foreign or unknown id is NotFound, never 403."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from foundation.errors import NotFound
from foundation.ids import as_object_id
from keys.models import ApiKey, OAuthClient, PersonalAccessToken
from portal.models import Api, Application


def key_get(*, user: Any, key_id: Any) -> ApiKey:
    """A key in one of the user's organisations, else NotFound."""
    try:
        keys = ApiKey.objects.for_user(user).select_related("application__organisation").distinct()
        return keys.get(pk=as_object_id(key_id))
    except ApiKey.DoesNotExist:
        raise NotFound("Key not found.") from None


def keys_with_scopes() -> QuerySet[ApiKey]:
    """Keys with the APIs they are scoped to, as lists and key pages show them (one extra query, not one per key)."""
    return ApiKey.objects.prefetch_related("apis")


def key_scope_choices(application: Application) -> QuerySet[Api]:
    """The APIs a key of this application may be scoped to: those it is subscribed to (key_issue checks this too)."""
    return Api.objects.filter(pk__in=application.subscriptions.live().values("api_id")).order_by("name")


def access_tokens_of(user: Any) -> QuerySet[PersonalAccessToken]:
    """A user's own personal access tokens; nobody else's, whatever organisations they share."""
    return PersonalAccessToken.objects.filter(user=user)


def access_token_get(*, user: Any, token_id: Any) -> PersonalAccessToken:
    """One of the user's own tokens, else NotFound (another user's token id reveals nothing)."""
    try:
        return access_tokens_of(user).get(pk=int(token_id))
    except (PersonalAccessToken.DoesNotExist, TypeError, ValueError, OverflowError):
        raise NotFound("Token not found.") from None


def oauth_client_get(*, user: Any, oauth_client_id: Any) -> OAuthClient:
    """An OAuth client in one of the user's organisations, else NotFound."""
    try:
        clients = OAuthClient.objects.for_user(user).select_related("application__organisation").distinct()
        return clients.get(pk=as_object_id(oauth_client_id))
    except OAuthClient.DoesNotExist:
        raise NotFound("OAuth client not found.") from None


def oauth_clients_of(application: Application) -> QuerySet[OAuthClient]:
    """An application's OAuth clients, newest first (the caller has checked access to the application)."""
    return OAuthClient.objects.filter(application=application)
