"""Applications and their subscriptions to API plans: views only validate and translate."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from foundation.api.base import PorticoAPIView
from foundation.api.schema import problem
from foundation.errors import NotFound, ValidationFailed
from portal import selectors
from portal.api.filters import ApplicationFilter, SubscriptionFilter
from portal.api.permissions import ANY_MEMBER, MANAGERS
from portal.api.scoped import ObjectView, OrganisationView
from portal.api.serializers import (
    ApplicationCreateSerializer,
    ApplicationSerializer,
    ApplicationUpdateSerializer,
    SubscriptionChangePlanSerializer,
    SubscriptionCreateSerializer,
    SubscriptionSerializer,
)
from portal.models import Application, Plan, Subscription
from portal.services.applications import (
    application_create,
    application_delete,
    application_update,
    subscription_cancel,
    subscription_change_plan,
    subscription_create,
)

APPLICATIONS = ["applications"]
SUBSCRIPTIONS = ["subscriptions"]


def _offered_plan(user: Any, plan_id: int) -> Plan:
    """A plan named in a request body: one that does not exist (for this user) is a field error, not a 404."""
    try:
        return selectors.plan_get_offered(user=user, plan_id=plan_id)
    except NotFound:
        raise ValidationFailed("Unknown plan.", field_errors={"plan": ["No such plan is offered."]}) from None


def _subscriptions() -> QuerySet[Subscription]:
    return Subscription.objects.select_related("api", "plan", "requested_plan")


class MyApplicationListView(PorticoAPIView):
    """Every application in the organisations you belong to, so a script needs no organisation id to start."""

    permission_classes = (IsAuthenticated,)
    filterset_class = ApplicationFilter

    def get_queryset(self) -> QuerySet[Application]:
        if self.is_schema_generation():
            return Application.objects.none()
        return selectors.applications_for_user(self.request.user).order_by("organisation_id", "name", "id")

    @extend_schema(operation_id="my_applications_list", tags=APPLICATIONS, responses=ApplicationSerializer(many=True))
    def get(self, request: Request) -> Response:
        return self.page(self.get_queryset(), ApplicationSerializer)


class ApplicationListView(OrganisationView):
    """The organisation's applications; any member may create one."""

    required_roles = {"GET": ANY_MEMBER, "POST": ANY_MEMBER}

    def get_queryset(self) -> QuerySet[Application]:
        if self.is_schema_generation():
            return Application.objects.none()
        return Application.objects.filter(organisation_id=self.get_membership().organisation_id)

    @extend_schema(operation_id="applications_list", tags=APPLICATIONS, responses=ApplicationSerializer(many=True))
    def get(self, request: Request, organisation_id: int) -> Response:
        return self.page(self.get_queryset(), ApplicationSerializer)

    @extend_schema(
        operation_id="applications_create",
        tags=APPLICATIONS,
        request=ApplicationCreateSerializer,
        responses={201: ApplicationSerializer},
    )
    def post(self, request: Request, organisation_id: int) -> Response:
        data = self.input(ApplicationCreateSerializer)
        application = application_create(membership=self.get_membership(), **data)
        return self.output(ApplicationSerializer, application, status=201)


class ApplicationScopedView(ObjectView):
    """Base for /applications/{application_id}/…: the application decides the organisation."""

    def load_object(self) -> Application:
        return selectors.application_get(user=self.request.user, application_id=self.kwargs["application_id"])

    def object_organisation_id(self, obj: Application) -> int:
        return obj.organisation_id


class ApplicationDetailView(ApplicationScopedView):
    """One application: members edit it; deleting it (which revokes its keys) is for owners and admins."""

    required_roles = {"GET": ANY_MEMBER, "PATCH": MANAGERS, "DELETE": MANAGERS}

    @extend_schema(operation_id="applications_retrieve", tags=APPLICATIONS, responses=ApplicationSerializer)
    def get(self, request: Request, application_id: int) -> Response:
        return self.output(ApplicationSerializer, self.get_object())

    @extend_schema(
        operation_id="applications_update",
        tags=APPLICATIONS,
        request=ApplicationUpdateSerializer,
        responses=ApplicationSerializer,
    )
    def patch(self, request: Request, application_id: int) -> Response:
        data = self.input(ApplicationUpdateSerializer)
        application = application_update(membership=self.get_membership(), application=self.get_object(), **data)
        return self.output(ApplicationSerializer, application)

    @extend_schema(operation_id="applications_delete", tags=APPLICATIONS, responses={204: None})
    def delete(self, request: Request, application_id: int) -> Response:
        application_delete(membership=self.get_membership(), application=self.get_object())
        return Response(status=204)


class ApplicationSubscriptionListView(ApplicationScopedView):
    """An application's subscriptions; subscribing picks a plan, which names the API."""

    required_roles = {"GET": ANY_MEMBER, "POST": ANY_MEMBER}
    filterset_class = SubscriptionFilter

    def get_queryset(self) -> QuerySet[Subscription]:
        if self.is_schema_generation():
            return Subscription.objects.none()
        return _subscriptions().filter(application=self.get_object())

    @extend_schema(
        operation_id="applications_subscriptions_list",
        tags=SUBSCRIPTIONS,
        responses=SubscriptionSerializer(many=True),
    )
    def get(self, request: Request, application_id: int) -> Response:
        return self.page(self.get_queryset(), SubscriptionSerializer)

    @extend_schema(
        operation_id="subscriptions_create",
        tags=SUBSCRIPTIONS,
        request=SubscriptionCreateSerializer,
        responses={
            201: SubscriptionSerializer,
            409: problem("The application already has a live subscription to this API."),
        },
        description="Subscribe the application to a plan: `active` at once, or `pending` if the plan needs approval.",
    )
    def post(self, request: Request, application_id: int) -> Response:
        data = self.input(SubscriptionCreateSerializer)
        plan = _offered_plan(request.user, data["plan"])
        subscription = subscription_create(actor=request.user, application=self.get_object(), plan=plan)
        return self.output(SubscriptionSerializer, subscription, status=201)


class OrganisationSubscriptionListView(OrganisationView):
    """Every subscription of the organisation's applications, filterable by application, API and status."""

    required_roles = {"GET": ANY_MEMBER}
    filterset_class = SubscriptionFilter

    def get_queryset(self) -> QuerySet[Subscription]:
        if self.is_schema_generation():
            return Subscription.objects.none()
        return _subscriptions().filter(application__organisation_id=self.get_membership().organisation_id)

    @extend_schema(operation_id="subscriptions_list", tags=SUBSCRIPTIONS, responses=SubscriptionSerializer(many=True))
    def get(self, request: Request, organisation_id: int) -> Response:
        return self.page(self.get_queryset(), SubscriptionSerializer)


class SubscriptionView(ObjectView):
    """Base for /subscriptions/{subscription_id}/…"""

    def load_object(self) -> Subscription:
        return selectors.subscription_get(user=self.request.user, subscription_id=self.kwargs["subscription_id"])

    def object_organisation_id(self, obj: Subscription) -> int:
        return obj.application.organisation_id


class SubscriptionDetailView(SubscriptionView):
    """One subscription; changing its plan to one that needs approval makes it pending again."""

    required_roles = {"GET": ANY_MEMBER, "PATCH": ANY_MEMBER}

    @extend_schema(operation_id="subscriptions_retrieve", tags=SUBSCRIPTIONS, responses=SubscriptionSerializer)
    def get(self, request: Request, subscription_id: int) -> Response:
        return self.output(SubscriptionSerializer, self.get_object())

    @extend_schema(
        operation_id="subscriptions_change_plan",
        tags=SUBSCRIPTIONS,
        request=SubscriptionChangePlanSerializer,
        responses={200: SubscriptionSerializer, 409: problem("The subscription has ended.")},
    )
    def patch(self, request: Request, subscription_id: int) -> Response:
        data = self.input(SubscriptionChangePlanSerializer)
        plan = _offered_plan(request.user, data["plan"])
        subscription = subscription_change_plan(actor=request.user, subscription=self.get_object(), plan=plan)
        return self.output(SubscriptionSerializer, subscription)


class SubscriptionCancelView(SubscriptionView):
    """Cancelling keeps the subscription on record (status `cancelled`); the gateway stops honouring it."""

    required_roles = {"POST": ANY_MEMBER}

    @extend_schema(
        operation_id="subscriptions_cancel", tags=SUBSCRIPTIONS, request=None, responses=SubscriptionSerializer
    )
    def post(self, request: Request, subscription_id: int) -> Response:
        subscription = subscription_cancel(actor=request.user, subscription=self.get_object())
        return self.output(SubscriptionSerializer, subscription)
