"""Webhook endpoints of an organisation and their delivery logs: views only validate and translate.

Members see endpoints and logs; owners and admins change them. The signing secret appears in exactly two
responses (create, rotate), both marked no-store.
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from foundation.api.base import once_shown
from foundation.api.schema import NO_STORE, problem
from portal.api.permissions import ANY_MEMBER, MANAGERS
from portal.api.scoped import ObjectView, OrganisationView
from webhooks import selectors, services
from webhooks.api.serializers import (
    IssuedWebhookEndpointSerializer,
    WebhookDeliverySerializer,
    WebhookEndpointCreateSerializer,
    WebhookEndpointSerializer,
    WebhookEndpointUpdateSerializer,
)
from webhooks.models import Delivery, Endpoint

WEBHOOKS = ["webhooks"]


class EndpointListView(OrganisationView):
    """The organisation's webhook endpoints; owners and admins register new ones."""

    required_roles = {"GET": ANY_MEMBER, "POST": MANAGERS}

    def get_queryset(self) -> QuerySet[Endpoint]:
        if self.is_schema_generation():
            return Endpoint.objects.none()
        return selectors.endpoints_of(self.get_membership().organisation_id)

    @extend_schema(operation_id="webhooks_list", tags=WEBHOOKS, responses=WebhookEndpointSerializer(many=True))
    def get(self, request: Request, organisation_id: int) -> Response:
        return self.page(self.get_queryset(), WebhookEndpointSerializer)

    @extend_schema(
        operation_id="webhooks_create",
        parameters=[NO_STORE],
        tags=WEBHOOKS,
        request=WebhookEndpointCreateSerializer,
        responses={
            201: IssuedWebhookEndpointSerializer,
            409: problem("The organisation has its maximum of endpoints."),
        },
        description="Register an endpoint. The response is the only time the signing secret is shown.",
    )
    def post(self, request: Request, organisation_id: int) -> Response:
        data = self.input(WebhookEndpointCreateSerializer)
        endpoint, secret = services.endpoint_create(membership=self.get_membership(), **data)
        return once_shown(
            self.output(IssuedWebhookEndpointSerializer, {"secret": secret, "endpoint": endpoint}, status=201)
        )


class EndpointView(ObjectView):
    """Base for /webhooks/{endpoint_id}/…: the endpoint's organisation decides who may do what."""

    def load_object(self) -> Endpoint:
        return selectors.endpoint_get(user=self.request.user, endpoint_id=self.kwargs["endpoint_id"])

    def object_organisation_id(self, obj: Endpoint) -> int:
        return obj.organisation_id


class EndpointDetailView(EndpointView):
    required_roles = {"GET": ANY_MEMBER, "PATCH": MANAGERS, "DELETE": MANAGERS}

    @extend_schema(operation_id="webhooks_retrieve", tags=WEBHOOKS, responses=WebhookEndpointSerializer)
    def get(self, request: Request, endpoint_id: int) -> Response:
        return self.output(WebhookEndpointSerializer, self.get_object())

    @extend_schema(
        operation_id="webhooks_update",
        tags=WEBHOOKS,
        request=WebhookEndpointUpdateSerializer,
        responses=WebhookEndpointSerializer,
    )
    def patch(self, request: Request, endpoint_id: int) -> Response:
        data = self.input(WebhookEndpointUpdateSerializer)
        endpoint = services.endpoint_update(membership=self.get_membership(), endpoint=self.get_object(), **data)
        return self.output(WebhookEndpointSerializer, endpoint)

    @extend_schema(operation_id="webhooks_destroy", tags=WEBHOOKS, responses={204: None})
    def delete(self, request: Request, endpoint_id: int) -> Response:
        services.endpoint_delete(membership=self.get_membership(), endpoint=self.get_object())
        return Response(status=204)


class EndpointRotateSecretView(EndpointView):
    """A new signing secret; the old one keeps signing beside it for the overlap period."""

    required_roles = {"POST": MANAGERS}

    @extend_schema(
        operation_id="webhooks_rotate_secret",
        parameters=[NO_STORE],
        tags=WEBHOOKS,
        request=None,
        responses={201: IssuedWebhookEndpointSerializer},
        description="The response is the only time the new secret is shown (`Cache-Control: no-store`).",
    )
    def post(self, request: Request, endpoint_id: int) -> Response:
        endpoint, secret = services.endpoint_rotate_secret(membership=self.get_membership(), endpoint=self.get_object())
        return once_shown(
            self.output(IssuedWebhookEndpointSerializer, {"secret": secret, "endpoint": endpoint}, status=201)
        )


class EndpointTestView(EndpointView):
    """Send a `webhook.test` event to this endpoint now."""

    required_roles = {"POST": MANAGERS}

    @extend_schema(
        operation_id="webhooks_send_test", tags=WEBHOOKS, request=None, responses={202: WebhookDeliverySerializer}
    )
    def post(self, request: Request, endpoint_id: int) -> Response:
        delivery = services.endpoint_send_test(membership=self.get_membership(), endpoint=self.get_object())
        return self.output(
            WebhookDeliverySerializer, selectors.deliveries_of(delivery.endpoint).get(pk=delivery.pk), 202
        )


class EndpointDeliveryListView(EndpointView):
    """The delivery log, newest first: each event with every attempt (status, first bytes, duration)."""

    required_roles = {"GET": ANY_MEMBER}

    def get_queryset(self) -> QuerySet[Delivery]:
        if self.is_schema_generation():
            return Delivery.objects.none()
        return selectors.deliveries_of(self.get_object())

    @extend_schema(
        operation_id="webhook_deliveries_list", tags=WEBHOOKS, responses=WebhookDeliverySerializer(many=True)
    )
    def get(self, request: Request, endpoint_id: int) -> Response:
        return self.page(self.get_queryset(), WebhookDeliverySerializer)


class DeliveryResendView(ObjectView):
    """Send an event again, with the same `webhook-id`, and a fresh retry window."""

    required_roles = {"POST": MANAGERS}

    def load_object(self) -> Delivery:
        return selectors.delivery_get(user=self.request.user, delivery_id=self.kwargs["delivery_id"])

    def object_organisation_id(self, obj: Delivery) -> int:
        return obj.endpoint.organisation_id

    @extend_schema(
        operation_id="webhook_deliveries_resend",
        tags=WEBHOOKS,
        request=None,
        responses={202: WebhookDeliverySerializer},
    )
    def post(self, request: Request, delivery_id: int) -> Response:
        delivery = services.delivery_resend(membership=self.get_membership(), delivery=self.get_object())
        return self.output(
            WebhookDeliverySerializer, selectors.deliveries_of(delivery.endpoint).get(pk=delivery.pk), 202
        )
