"""OAuth clients of applications, mirroring the keys API: list and create under the application, then
retrieve, rotate and revoke by id. Secrets appear only in create and rotate responses, marked no-store."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from foundation.api.base import once_shown
from foundation.api.schema import NO_STORE, problem
from keys import selectors
from keys.api.client_serializers import (
    IssuedOAuthClientSerializer,
    OAuthClientCreateSerializer,
    OAuthClientRotateSerializer,
    OAuthClientSerializer,
)
from keys.models import OAuthClient
from keys.services import ROTATION_GRACE_CHOICES
from keys.services import clients as services
from portal.api.permissions import ANY_MEMBER
from portal.api.scoped import ObjectView
from portal.api.views.applications import ApplicationScopedView

CLIENTS = ["oauth clients"]


class ApplicationClientListView(ApplicationScopedView):
    """An application's OAuth clients, newest first; any member may create one (up to the per-application cap)."""

    required_roles = {"GET": ANY_MEMBER, "POST": ANY_MEMBER}

    def get_queryset(self) -> QuerySet[OAuthClient]:
        if self.is_schema_generation():
            return OAuthClient.objects.none()
        return selectors.oauth_clients_of(self.get_object())

    @extend_schema(operation_id="oauth_clients_list", tags=CLIENTS, responses=OAuthClientSerializer(many=True))
    def get(self, request: Request, application_id: int) -> Response:
        return self.page(self.get_queryset(), OAuthClientSerializer)

    @extend_schema(
        operation_id="oauth_clients_create",
        parameters=[NO_STORE],
        tags=CLIENTS,
        request=OAuthClientCreateSerializer,
        responses={201: IssuedOAuthClientSerializer, 409: problem("The application has its maximum of clients.")},
        description="Create a client-credentials client. The response is the only time the secret is shown.",
    )
    def post(self, request: Request, application_id: int) -> Response:
        data = self.input(OAuthClientCreateSerializer)
        client, secret = services.oauth_client_issue(
            actor=request.user, application=self.get_object(), name=data["name"], environment=data["environment"]
        )
        return once_shown(
            self.output(IssuedOAuthClientSerializer, {"client_secret": secret, "client": client}, status=201)
        )


class ClientView(ObjectView):
    """Base for /clients/{oauth_client_id}/…: the client's application decides the organisation."""

    def load_object(self) -> OAuthClient:
        return selectors.oauth_client_get(user=self.request.user, oauth_client_id=self.kwargs["oauth_client_id"])

    def object_organisation_id(self, obj: OAuthClient) -> int:
        return obj.application.organisation_id


class ClientDetailView(ClientView):
    required_roles = {"GET": ANY_MEMBER}

    @extend_schema(operation_id="oauth_clients_retrieve", tags=CLIENTS, responses=OAuthClientSerializer)
    def get(self, request: Request, oauth_client_id: int) -> Response:
        return self.output(OAuthClientSerializer, self.get_object())


class ClientRotateView(ClientView):
    """A new secret; the current one keeps working for the chosen grace period."""

    required_roles = {"POST": ANY_MEMBER}

    @extend_schema(
        operation_id="oauth_clients_rotate",
        parameters=[NO_STORE],
        tags=CLIENTS,
        request=OAuthClientRotateSerializer,
        responses={201: IssuedOAuthClientSerializer, 409: problem("The client is revoked.")},
        description="The response is the only time the new secret is shown (`Cache-Control: no-store`).",
    )
    def post(self, request: Request, oauth_client_id: int) -> Response:
        data = self.input(OAuthClientRotateSerializer)
        grace = ROTATION_GRACE_CHOICES[data["grace"]]
        client, secret = services.oauth_client_rotate(actor=request.user, client=self.get_object(), grace=grace)
        return once_shown(
            self.output(IssuedOAuthClientSerializer, {"client_secret": secret, "client": client}, status=201)
        )


class ClientRevokeView(ClientView):
    """Revoke at once, with every token it holds; gateways refuse them within seconds. Revoking twice is harmless."""

    required_roles = {"POST": ANY_MEMBER}

    @extend_schema(operation_id="oauth_clients_revoke", tags=CLIENTS, request=None, responses=OAuthClientSerializer)
    def post(self, request: Request, oauth_client_id: int) -> Response:
        client = services.oauth_client_revoke(actor=request.user, client=self.get_object())
        return self.output(OAuthClientSerializer, client)
