"""Access control on every route, read from the URL configuration so a new route cannot be forgotten.

Outsiders get 404 for every id of another tenant (never 403, never data); plain members get 403 on owner/admin
actions; requests without credentials get 401; every view declares its permissions and the roles per method.
"""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.permissions import IsAuthenticated

from foundation.api.base import PorticoAPIView
from foundation.api.permissions import DenyAll
from foundation.models import AuditEvent
from keys.models import ApiKey, OAuthClient, PersonalAccessToken
from portal.api.scoped import ScopedView
from portal.models import Application, Invitation, Membership, Organisation, Subscription
from tests.support.problems import assert_problem
from tests.support.routes import PARAMETER, api_routes, methods
from tests.support.routes import url as route_url
from webhooks.models import Delivery, Endpoint

API_ROUTES = api_routes()
ID_ROUTES = [(route, view) for route, view in API_ROUTES if "_id>" in route]


def _snapshot() -> list[Any]:
    """Everything an outsider's request could have changed."""
    return [
        list(Organisation.objects.values_list("id", "name", "status")),
        list(Membership.objects.values_list("id", "role")),
        list(Invitation.objects.values_list("id", "revoked_at")),
        list(Application.objects.values_list("id", "name", "description")),
        list(Subscription.objects.values_list("id", "plan_id", "status")),
        list(ApiKey.objects.values_list("id", "name", "status", "expires_at", "allowed_cidrs")),
        list(PersonalAccessToken.objects.values_list("id", "revoked_at")),
        list(OAuthClient.objects.order_by("id").values_list("id", "name", "secret_digest", "revoked_at")),
        list(Endpoint.objects.values_list("id", "url", "event_types", "is_active", "secret_encrypted")),
        list(Delivery.objects.values_list("id", "status", "next_attempt_at")),
        AuditEvent.objects.count(),
    ]


def test_the_matrix_covers_every_id_kind() -> None:
    kinds = {name for route, _ in ID_ROUTES for name in PARAMETER.findall(route)}
    assert kinds == {
        "organisation_id",
        "member_id",
        "invitation_id",
        "application_id",
        "subscription_id",
        "key_id",
        "token_id",
        "request_id",
        "oauth_client_id",
        "endpoint_id",
        "delivery_id",
        "certificate_id",
    }
    assert len(ID_ROUTES) >= 25
    # Read-only usage routes are walked like the rest (outsiders 404, no credentials 401), the newest included.
    usage = {route for route, _ in ID_ROUTES if "/usage/" in route}
    assert "api/v1/applications/<int:application_id>/usage/endpoints/" in usage


def test_an_outsider_gets_404_for_every_id_route_and_changes_nothing(charlie_api, charlie_org, alices_things) -> None:
    before = _snapshot()
    answered = 0
    for route, view in ID_ROUTES:
        url = route_url(route, alices_things)
        for method in methods(view):
            body = {} if method in ("post", "patch") else None
            response = getattr(charlie_api, method)(url, body, format="json")
            problem = assert_problem(response, 404)
            assert "alice" not in response.content.decode().lower(), (method, url, problem)
            answered += 1
    assert answered >= 30
    assert _snapshot() == before


@pytest.mark.parametrize("missing", [0, 10**6, 2**63 - 1, 2**63, 10**30])
def test_unknown_and_out_of_range_ids_are_404_for_members_too(alice_api, alices_things, missing) -> None:
    for route, view in ID_ROUTES:
        for name in PARAMETER.findall(route):
            url = route_url(route, alices_things | {name: missing})
            for method in methods(view):
                body = {} if method in ("post", "patch") else None
                assert_problem(getattr(alice_api, method)(url, body, format="json"), 404)


def test_every_route_answers_401_without_credentials(anonymous_api, alices_things) -> None:
    for route, view in API_ROUTES:
        url = route_url(route, alices_things)
        for method in methods(view):
            response = getattr(anonymous_api, method)(url, {} if method in ("post", "patch") else None, format="json")
            assert_problem(response, 401)


MANAGER_ONLY = [
    ("patch", "organisations/{organisation_id}/", {"name": "Bob's"}),
    ("patch", "organisations/{organisation_id}/members/{bob_member_id}/", {"role": "owner"}),
    ("delete", "organisations/{organisation_id}/members/{member_id}/", None),
    ("get", "organisations/{organisation_id}/invitations/", None),
    ("post", "organisations/{organisation_id}/invitations/", {"email": "eve@example.com"}),
    ("get", "organisations/{organisation_id}/invitations/{invitation_id}/", None),
    ("post", "organisations/{organisation_id}/invitations/{invitation_id}/revoke/", None),
    ("get", "organisations/{organisation_id}/audit-events/", None),
    ("delete", "applications/{application_id}/", None),
    (
        "post",
        "organisations/{organisation_id}/webhooks/",
        {"url": "https://a.example/", "event_types": ["key.created"]},
    ),
    ("patch", "webhooks/{endpoint_id}/", {"is_active": False}),
    ("delete", "webhooks/{endpoint_id}/", None),
    ("post", "webhooks/{endpoint_id}/rotate-secret/", None),
    ("post", "webhooks/{endpoint_id}/test/", None),
    ("post", "webhook-deliveries/{delivery_id}/resend/", None),
]


@pytest.mark.parametrize(("method", "path", "body"), MANAGER_ONLY)
def test_a_plain_member_gets_403_on_owner_and_admin_actions(
    bob_api, bob_membership, alices_things, method, path, body
) -> None:
    before = _snapshot()
    url = "/api/v1/" + path.format(**alices_things, bob_member_id=bob_membership.pk)
    assert_problem(getattr(bob_api, method)(url, body, format="json"), 403)
    assert _snapshot() == before


def test_an_admin_may_do_what_managers_do(bob_api, bob_membership, alices_things) -> None:
    Membership.objects.filter(pk=bob_membership.pk).update(role="admin")
    org = alices_things["organisation_id"]
    assert bob_api.get(f"/api/v1/organisations/{org}/audit-events/").status_code == 200
    assert bob_api.get(f"/api/v1/organisations/{org}/invitations/").status_code == 200
    assert bob_api.patch(f"/api/v1/organisations/{org}/", {"name": "Acme 2"}, format="json").status_code == 200


@pytest.mark.parametrize(("route", "view"), API_ROUTES, ids=[route for route, _ in API_ROUTES])
def test_every_view_declares_its_permissions(route, view) -> None:
    assert issubclass(view, PorticoAPIView)
    assert DenyAll not in view.permission_classes
    assert IsAuthenticated in view.permission_classes
    if issubclass(view, ScopedView):
        assert set(methods(view)) <= {method.lower() for method in view.required_roles}, view
