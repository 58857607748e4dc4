"""API1:2023 Broken object level authorization: an outsider's real access token aimed at another tenant's ids.

tests/api/test_access_control.py walks every id route with a forced login; here charlie calls over the token
transport gateways and scripts use (`Authorization: Bearer ptc_pat_…`), and also tries alice's ids in the list
filters, where a missing scope would leak rows rather than answer 404.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from analytics.models import UsageRollup
from anomalies.services import anomalies_detect, hour_floor
from foundation.models import AuditEvent
from keys.models import ApiKey, OAuthClient, PersonalAccessToken
from portal.models import Application, Invitation, Membership, Organisation, Subscription
from tests.support.problems import assert_problem
from tests.support.routes import api_routes, methods, url

ID_ROUTES = [(route, view) for route, view in api_routes() if "_id>" in route]


def _everything() -> list[Any]:
    """All rows an outsider's request could have changed."""
    return [
        list(Organisation.objects.order_by("id").values_list("id", "name", "status")),
        list(Membership.objects.order_by("id").values_list("id", "role")),
        list(Invitation.objects.order_by("id").values_list("id", "revoked_at")),
        list(Application.objects.order_by("id").values_list("id", "name", "description")),
        list(Subscription.objects.order_by("id").values_list("id", "plan_id", "status")),
        list(ApiKey.objects.order_by("id").values_list("id", "name", "status", "expires_at", "allowed_cidrs")),
        list(PersonalAccessToken.objects.order_by("id").values_list("id", "revoked_at")),
        list(OAuthClient.objects.order_by("id").values_list("id", "name", "secret_digest", "revoked_at")),
        AuditEvent.objects.count(),
    ]


def test_an_outsiders_access_token_gets_404_on_every_id_route_and_every_method(charlie_pat, alices_things) -> None:
    before = _everything()
    attacked = 0
    for route, view in ID_ROUTES:
        for method in methods(view):
            body = {"name": "pwned", "role": "owner", "plan": 1} if method in ("post", "patch") else None
            response = getattr(charlie_pat, method)(url(route, alices_things), body, format="json")
            assert_problem(response, 404)
            text = response.content.decode().lower()
            assert "alice" not in text and "acme" not in text, (method, route)
            attacked += 1
    assert attacked >= 30
    assert _everything() == before


def test_alices_ids_in_an_outsiders_list_filters_return_nothing_of_hers(charlie_pat, alices_things) -> None:
    app, org = alices_things["application_id"], alices_things["organisation_id"]
    for path in (
        f"/api/v1/applications/?organisation={org}",
        f"/api/v1/applications/?organisation={org}&page_size=100",
    ):
        response = charlie_pat.get(path)
        assert response.status_code == 200
        assert response.json()["results"] == []
    response = charlie_pat.get(f"/api/v1/organisations/{org}/subscriptions/?application={app}")
    assert_problem(response, 404)


def test_an_outsider_cannot_read_usage_of_another_tenants_application(charlie_pat, alices_things) -> None:
    usage = f"/api/v1/applications/{alices_things['application_id']}/usage/?granularity=day"
    assert_problem(charlie_pat.get(usage), 404)
    by_endpoint = f"/api/v1/applications/{alices_things['application_id']}/usage/endpoints/?granularity=day"
    assert_problem(charlie_pat.get(by_endpoint), 404)


def test_an_outsider_cannot_read_another_tenants_anomaly_flags(charlie_pat, alices_things) -> None:
    key = ApiKey.objects.get(pk=alices_things["key_id"])
    UsageRollup.objects.create(
        granularity="hour", bucket=hour_floor(timezone.now()), organisation_id=alices_things["organisation_id"],
        application_id=key.application_id, key_id=key.pk, status_class=2, requests=50_000,
    )  # fmt: skip
    assert len(anomalies_detect(now=timezone.now())) == 1
    flags = f"/api/v1/applications/{alices_things['application_id']}/anomalies/"
    problem = assert_problem(charlie_pat.get(flags), 404)
    assert key.prefix not in str(problem)
