"""API5:2023 Broken function level authorization: staff functions, tried by developers for real.

Every admin route (read from the URLconf) is requested by a developer and by staff without MFA: none answers
200 and none changes anything. A developer cannot approve their own subscription, see a private API, or subscribe
to its plans. Role checks inside organisations are tests/api/test_access_control.py (members get 403 on owner and
admin actions); gateway credentials tests/gateway_sync/test_gateway_api_auth.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from portal.models import Api, Subscription
from tests.factories import ApiFactory, PlanFactory
from tests.support.problems import assert_problem
from tests.support.routes import PARAMETER, walk


def _admin_pages() -> list[str]:
    pages = []
    for route, _ in walk():
        if route.startswith("admin/") and "(?P<" not in route and "^" not in route:
            pages.append("/" + PARAMETER.sub("1", route))
    return pages


@pytest.fixture
def staff_without_mfa(staff: Any) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def test_no_admin_route_serves_a_developer_or_staff_without_mfa(alice_client, staff_without_mfa, api) -> None:
    pages = _admin_pages()
    assert len(pages) >= 40
    api_before = list(Api.objects.values())
    for client in (alice_client, staff_without_mfa):
        for page in pages:
            for method in ("get", "post"):
                response = getattr(client, method)(page)
                assert response.status_code in (302, 403, 404, 405), (method, page, response.status_code)
            landed = client.get(page, follow=True)  # wherever the redirects lead, it is not an admin page
            assert landed.status_code != 200 or not landed.request["PATH_INFO"].startswith("/admin/"), page
    assert list(Api.objects.values()) == api_before


def test_a_developer_cannot_approve_their_own_subscription(alice_pat, application, pro_plan) -> None:
    response = alice_pat.post(
        f"/api/v1/applications/{application.pk}/subscriptions/", {"plan": pro_plan.pk}, format="json"
    )
    assert response.status_code == 201 and response.json()["status"] == "pending"
    subscription = response.json()["id"]
    assert_problem(alice_pat.patch(f"/api/v1/subscriptions/{subscription}/", {"status": "active"}, format="json"), 400)
    assert_problem(alice_pat.post(f"/api/v1/subscriptions/{subscription}/approve/", {}, format="json"), 404)
    assert Subscription.objects.get(pk=subscription).status == "pending"


def test_a_private_api_and_its_plans_are_out_of_a_developers_reach(alice_pat, alice_client, application) -> None:
    private = ApiFactory(name="Internal", slug="internal", visibility="private")
    plan = PlanFactory(api=private, name="Staff", slug="staff")
    assert_problem(alice_pat.get("/api/v1/apis/internal/"), 404)
    assert "internal" not in [a["slug"] for a in alice_pat.get("/api/v1/apis/").json()["results"]]
    subscribe = alice_pat.post(
        f"/api/v1/applications/{application.pk}/subscriptions/", {"plan": plan.pk}, format="json"
    )
    assert subscribe.status_code in (400, 404)
    assert not Subscription.objects.filter(plan=plan).exists()
    assert alice_client.get("/catalog/internal/").status_code == 404
