"""API3:2023 Broken object property level authorization: no response exposes a secret, no request sets what
the caller may not.

Every GET route is walked with alice's ids and every JSON answer searched for secret-bearing properties; every
PATCH and POST route is sent the properties an attacker would want to set (ids, owners, states, digests, staff
flags) and must refuse them with a 400 problem and change nothing. Complements tests/api/test_request_errors.py.
"""

from __future__ import annotations

from typing import Any

from foundation.models import AuditEvent
from keys.models import ApiKey, OAuthClient, PersonalAccessToken
from portal.models import Application, Membership, Organisation, Subscription
from tests.support.problems import assert_problem
from tests.support.routes import api_routes, methods
from tests.support.routes import url as route_url
from webhooks.models import Endpoint

SECRET_PROPERTIES = {
    "digest", "secret", "password", "client_secret", "push_secret", "push_secret_encrypted", "hash",
    "secret_digest", "previous_secret_digest", "private_key_encrypted",
    "secret_encrypted", "previous_secret_encrypted",  # webhook signing secrets
}  # fmt: skip
# what an attacker would like to set on anything
FORBIDDEN = {
    "id": 1, "organisation": 1, "organisation_id": 1, "user": 1, "created_by": 1, "status": "active",
    "is_staff": True, "is_superuser": True, "is_personal": False, "digest": "0" * 64, "prefix": "ptc_live_x",
    "activated_at": "2020-01-01T00:00:00Z", "revoked_at": None, "blocked_until": None, "requires_approval": False,
}  # fmt: skip
# Actions that take no body ignore one ("ignored or 400", TEST-PLAN #32): checked on their own below.
BODILESS_ACTIONS = ("/revoke/", "/cancel/", "/rotate-secret/", "/test/", "/resend/")


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value))
    return set()


def _state() -> list[Any]:
    return [
        list(Organisation.objects.order_by("id").values()),
        list(Membership.objects.order_by("id").values()),
        list(Application.objects.order_by("id").values()),
        list(Subscription.objects.order_by("id").values()),
        list(ApiKey.objects.order_by("id").values()),
        list(PersonalAccessToken.objects.order_by("id").values("id", "revoked_at", "expires_at", "digest")),
        list(OAuthClient.objects.order_by("id").values()),
        list(Endpoint.objects.order_by("id").values()),
        AuditEvent.objects.count(),
    ]


def test_no_get_answer_carries_a_secret_property(alice_pat, alices_things, api_key, alice_token, oauth_client) -> None:
    walked = 0
    for route, view in api_routes():
        if "get" in methods(view):
            response = alice_pat.get(route_url(route, alices_things))
            if response.status_code == 404 and route.endswith("/openapi/"):
                continue  # the API has no OpenAPI document
            assert response.status_code == 200, route
            found = _keys(response.json()) & SECRET_PROPERTIES
            assert found == set(), (route, found)
            assert api_key[1] not in response.content.decode() and alice_token[1] not in response.content.decode()
            assert oauth_client[1] not in response.content.decode()
            walked += 1
    assert walked >= 18


def test_every_write_refuses_properties_the_caller_may_not_set(alice_api, alices_things) -> None:
    before = _state()
    attacked = 0
    for route, view in api_routes():
        if route.endswith(BODILESS_ACTIONS):
            continue
        for method in ("post", "patch"):
            if method in methods(view):
                response = getattr(alice_api, method)(route_url(route, alices_things), FORBIDDEN, format="json")
                body = assert_problem(response, 400)
                assert body.get("errors") or body.get("invalid_params") or "Unknown" in response.content.decode()
                attacked += 1
    assert attacked >= 12
    assert _state() == before


def test_a_bodiless_action_ignores_the_properties_sent_with_it(alice_pat, alices_things, charlie_org) -> None:
    subscription = Subscription.objects.get(pk=alices_things["subscription_id"])
    body = FORBIDDEN | {"organisation": charlie_org.pk, "plan": 999, "application": 999}
    response = alice_pat.post(f"/api/v1/subscriptions/{subscription.pk}/cancel/", body, format="json")
    assert response.status_code == 200
    after = Subscription.objects.get(pk=subscription.pk)
    assert (after.status, after.application_id, after.plan_id) == (
        "cancelled",
        subscription.application_id,
        subscription.plan_id,
    )
    assert after.application.organisation_id == alices_things["organisation_id"]
