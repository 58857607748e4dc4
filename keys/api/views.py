"""API keys of applications and the requester's personal access tokens: views only validate and translate.

Secrets appear in exactly three responses (key create, key rotate, token create), all marked no-store.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from foundation.api.base import PorticoAPIView, once_shown
from foundation.api.schema import NO_STORE, problem
from keys import selectors, services
from keys.api.filters import ApiKeyFilter
from keys.api.permissions import NotWithAccessToken
from keys.api.serializers import (
    AccessTokenCreateSerializer,
    AccessTokenSerializer,
    ApiKeyCreateSerializer,
    ApiKeyRotateSerializer,
    ApiKeySerializer,
    ApiKeyUpdateSerializer,
    IssuedAccessTokenSerializer,
    IssuedApiKeySerializer,
    RotatedApiKeySerializer,
)
from keys.models import ApiKey, PersonalAccessToken
from portal.api.permissions import ANY_MEMBER
from portal.api.scoped import ObjectView
from portal.api.views.applications import ApplicationScopedView

KEYS = ["keys"]
TOKENS = ["access tokens"]


class ApplicationKeyListView(ApplicationScopedView):
    """An application's keys, newest first; any member may issue one (up to the per-application limit)."""

    required_roles = {"GET": ANY_MEMBER, "POST": ANY_MEMBER}
    filterset_class = ApiKeyFilter

    def get_queryset(self) -> QuerySet[ApiKey]:
        if self.is_schema_generation():
            return ApiKey.objects.none()
        return selectors.keys_with_scopes().filter(application=self.get_object())

    @extend_schema(operation_id="keys_list", tags=KEYS, responses=ApiKeySerializer(many=True))
    def get(self, request: Request, application_id: int) -> Response:
        return self.page(self.get_queryset(), ApiKeySerializer)

    @extend_schema(
        operation_id="keys_create",
        parameters=[NO_STORE],
        tags=KEYS,
        request=ApiKeyCreateSerializer,
        responses={201: IssuedApiKeySerializer, 409: problem("The application has its maximum of active keys.")},
        description="Issue a key. The response is the only time the secret is shown (`Cache-Control: no-store`).",
    )
    def post(self, request: Request, application_id: int) -> Response:
        data = self.input(ApiKeyCreateSerializer)
        key, secret = services.key_issue(
            actor=request.user,
            application=self.get_object(),
            name=data["name"],
            environment=data["environment"],
            expires_at=data["expires_at"],
            allowed_cidrs=data.get("allowed_cidrs", ()),
            apis=data.get("apis", ()),
        )
        return once_shown(self.output(IssuedApiKeySerializer, {"secret": secret, "key": key}, status=201))


class KeyView(ObjectView):
    """Base for /keys/{key_id}/…: the key's application decides the organisation."""

    def load_object(self) -> ApiKey:
        return selectors.key_get(user=self.request.user, key_id=self.kwargs["key_id"])

    def object_organisation_id(self, obj: ApiKey) -> int:
        return obj.application.organisation_id

    def reloaded(self, key: ApiKey) -> ApiKey:
        """The key as the service left it, with its scopes for the response."""
        return selectors.keys_with_scopes().get(pk=key.pk)


class KeyDetailView(KeyView):
    required_roles = {"GET": ANY_MEMBER, "PATCH": ANY_MEMBER}

    @extend_schema(operation_id="keys_retrieve", tags=KEYS, responses=ApiKeySerializer)
    def get(self, request: Request, key_id: int) -> Response:
        return self.output(ApiKeySerializer, self.get_object())

    @extend_schema(
        operation_id="keys_update",
        tags=KEYS,
        request=ApiKeyUpdateSerializer,
        responses={200: ApiKeySerializer, 409: problem("The key is revoked.")},
    )
    def patch(self, request: Request, key_id: int) -> Response:
        data = self.input(ApiKeyUpdateSerializer)
        key = services.key_update(actor=request.user, key=self.get_object(), **data)
        return self.output(ApiKeySerializer, self.reloaded(key))


class KeyRotateView(KeyView):
    """Issue a successor with the same settings; the old key stays valid for the chosen grace period."""

    required_roles = {"POST": ANY_MEMBER}

    @extend_schema(
        operation_id="keys_rotate",
        parameters=[NO_STORE],
        tags=KEYS,
        request=ApiKeyRotateSerializer,
        responses={201: RotatedApiKeySerializer, 409: problem("The key is not usable or was already rotated.")},
        description="The response is the only time the new secret is shown (`Cache-Control: no-store`).",
    )
    def post(self, request: Request, key_id: int) -> Response:
        data = self.input(ApiKeyRotateSerializer)
        old = self.get_object()
        grace = services.ROTATION_GRACE_CHOICES[data["grace"]]
        new, secret = services.key_rotate(actor=request.user, key=old, grace=grace, name=data.get("name"))
        body = {"secret": secret, "key": self.reloaded(new), "previous": self.reloaded(old)}
        return once_shown(self.output(RotatedApiKeySerializer, body, status=201))


class KeyRevokeView(KeyView):
    """Revoke at once; the key stays listed as `revoked`. Revoking twice is harmless."""

    required_roles = {"POST": ANY_MEMBER}

    @extend_schema(operation_id="keys_revoke", tags=KEYS, request=None, responses=ApiKeySerializer)
    def post(self, request: Request, key_id: int) -> Response:
        key = services.key_revoke(actor=request.user, key=self.get_object())
        return self.output(ApiKeySerializer, self.reloaded(key))


# --- Personal access tokens: scoped to the requesting user, not to an organisation --------------------------------


class AccessTokenView(PorticoAPIView):
    """Base for /access-tokens/…: a user's own tokens only, whatever their organisations."""

    permission_classes: Sequence[type[BasePermission]] = (IsAuthenticated,)

    def get_queryset(self) -> QuerySet[PersonalAccessToken]:
        if self.is_schema_generation():
            return PersonalAccessToken.objects.none()
        # IsAuthenticated has run, so the user is never anonymous here.
        return selectors.access_tokens_of(self.request.user)

    def token(self) -> PersonalAccessToken:
        return selectors.access_token_get(user=self.request.user, token_id=self.kwargs["token_id"])


class AccessTokenListView(AccessTokenView):
    """Your tokens for this REST API. Creating one needs a signed-in session, so a token cannot mint tokens."""

    permission_classes = (IsAuthenticated, NotWithAccessToken)

    @extend_schema(operation_id="access_tokens_list", tags=TOKENS, responses=AccessTokenSerializer(many=True))
    def get(self, request: Request) -> Response:
        return self.page(self.get_queryset(), AccessTokenSerializer)

    @extend_schema(
        operation_id="access_tokens_create",
        parameters=[NO_STORE],
        tags=TOKENS,
        request=AccessTokenCreateSerializer,
        responses={201: IssuedAccessTokenSerializer},
        description="The response is the only time the token is shown (`Cache-Control: no-store`).",
    )
    def post(self, request: Request) -> Response:
        data = self.input(AccessTokenCreateSerializer)
        token, secret = services.access_token_issue(user=request.user, **data)
        return once_shown(self.output(IssuedAccessTokenSerializer, {"secret": secret, "token": token}, status=201))


class AccessTokenDetailView(AccessTokenView):
    @extend_schema(operation_id="access_tokens_retrieve", tags=TOKENS, responses=AccessTokenSerializer)
    def get(self, request: Request, token_id: int) -> Response:
        return self.output(AccessTokenSerializer, self.token())


class AccessTokenRevokeView(AccessTokenView):
    """Revoke at once; requests with the token are refused (401) from now on."""

    @extend_schema(operation_id="access_tokens_revoke", tags=TOKENS, request=None, responses=AccessTokenSerializer)
    def post(self, request: Request, token_id: int) -> Response:
        token = self.token()
        services.access_token_revoke(user=request.user, token=token)
        return self.output(AccessTokenSerializer, token)
