"""Demo data for `make run`: an echo API with Free and Pro plans, a developer, an application and a key."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.db import transaction

from keys.models import ApiKey
from keys.services import key_issue, key_revoke
from portal.models import Api, Application, Plan, Subscription
from portal.services.applications import application_create, subscription_create
from portal.services.catalog import api_save, plan_save
from portal.services.organisations import organisation_ensure_personal

DEMO_OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Echo API", "version": "1.0.0", "description": "Answers with what it received."},
    "paths": {
        "/anything": {
            "get": {
                "summary": "Echo a GET request",
                "parameters": [{"name": "q", "in": "query", "schema": {"type": "string"}, "required": False}],
                "responses": {"200": {"description": "Method, path, headers and body as JSON"}},
            },
            "post": {
                "summary": "Echo a JSON body",
                "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {"200": {"description": "Method, path, headers and body as JSON"}},
            },
        },
        # A few resource-style paths (the echo answers any path), so usage by endpoint has several operations.
        "/anything/orders": {
            "get": {"summary": "List orders (echoed)", "responses": {"200": {"description": "The request echoed"}}},
            "post": {
                "summary": "Create an order (echoed)",
                "responses": {"200": {"description": "The request echoed"}},
            },
        },
        "/anything/orders/{order_id}": {
            "parameters": [{"name": "order_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "get": {"summary": "Get an order (echoed)", "responses": {"200": {"description": "The request echoed"}}},
        },
        "/anything/customers/{customer_id}": {
            "parameters": [{"name": "customer_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": {"summary": "Get a customer (echoed)", "responses": {"200": {"description": "The request echoed"}}},
        },
        "/anything/search": {
            "get": {
                "summary": "Search (echoed)",
                "parameters": [{"name": "q", "in": "query", "schema": {"type": "string"}, "required": False}],
                "responses": {"200": {"description": "The request echoed"}},
            }
        },
    },
}


@dataclass(frozen=True)
class DemoCredentials:
    admin_email: str
    admin_password: str | None
    developer_email: str
    developer_password: str | None
    api_key: str
    api_path_prefix: str
    organisation_id: int


def _with(obj: Any, values: dict[str, Any]) -> Any:
    """`obj` with `values` set (an update_or_create whose save goes through a service, so gateways hear of it)."""
    for name, value in values.items():
        setattr(obj, name, value)
    return obj


def _user(email: str, *, staff: bool, password: str | None) -> tuple[Any, str | None]:
    """A verified demo user. A given password is (re)set; a new user without one gets a random password."""
    user_model = get_user_model()
    user = user_model.objects.filter(email=email).first()
    if user is None:
        password = password or secrets.token_urlsafe(12)
        user = user_model.objects.create_user(
            username=email.split("@")[0], email=email, password=password, is_staff=staff, is_superuser=staff
        )
    elif password:
        user.set_password(password)
        user.save(update_fields=["password"])
    EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
    return user, password


@transaction.atomic
def seed_demo(
    *, upstream_url: str, admin_password: str | None = None, developer_password: str | None = None
) -> DemoCredentials:
    """Idempotent: re-running keeps users and data, and issues a fresh demo key (revoking the previous one)."""
    admin, admin_pw = _user("admin@portico.localhost", staff=True, password=admin_password)
    developer, developer_pw = _user("dev@portico.localhost", staff=False, password=developer_password)
    api = _with(
        Api.objects.filter(slug="echo").first() or Api(slug="echo"),
        {
            "name": "Echo API",
            "version": "v1",
            "path_prefix": "/echo",
            "upstream_url": upstream_url,
            "description": "A demo API that answers with the method, path, headers and body it received.",
            "methods": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
            "openapi_document": DEMO_OPENAPI,
        },
    )
    api = api_save(actor=admin, api=api)
    free = _with(
        Plan.objects.filter(api=api, slug="free").first() or Plan(api=api, slug="free"),
        {
            "name": "Free",
            "rate_per_second": 5,
            "rate_per_minute": 100,
            "quota_per_day": 1000,
            "quota_per_month": 20000,
            "price_label": "Free",
            "display_order": 1,
            "is_public": True,
        },
    )
    free = plan_save(actor=admin, plan=free)
    pro = _with(
        Plan.objects.filter(api=api, slug="pro").first() or Plan(api=api, slug="pro"),
        {
            "name": "Pro",
            "rate_per_second": 50,
            "rate_per_minute": 2000,
            "quota_per_day": 100000,
            "quota_per_month": 2000000,
            "price_label": "$49 / month",
            "requires_approval": True,
            "display_order": 2,
            "is_public": True,
        },
    )
    plan_save(actor=admin, plan=pro)
    organisation = organisation_ensure_personal(user=developer)
    application = Application.objects.filter(organisation=organisation, name="Demo app").first()
    if application is None:
        membership = organisation.memberships.get(user=developer)
        application = application_create(membership=membership, name="Demo app", description="Made by seed_demo.")
    if not Subscription.objects.live().filter(application=application, api=api).exists():
        subscription_create(actor=developer, application=application, plan=free)
    for old in ApiKey.objects.filter(application=application, name="Demo key", status=ApiKey.Status.ACTIVE):
        key_revoke(actor=admin, key=old)
    _key, secret = key_issue(actor=developer, application=application, name="Demo key")
    return DemoCredentials(
        admin_email=admin.email,
        admin_password=admin_pw,
        developer_email=developer.email,
        developer_password=developer_pw,
        api_key=secret,
        api_path_prefix=api.path_prefix,
        organisation_id=organisation.pk,
    )
