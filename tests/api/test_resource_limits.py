"""Resource caps (OWASP API4): one tenant or one person cannot create without bound, and the REST API throttles.

Each cap is a setting with a generous default; here they are set small to reach them.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework.throttling import UserRateThrottle

from keys.services import access_token_issue, key_issue, key_rotate
from tests.api.conftest import assert_problem


def test_applications_per_organisation_are_capped(alice_api, org, settings) -> None:
    settings.PORTICO_MAX_APPLICATIONS_PER_ORGANISATION = 2
    url = f"/api/v1/organisations/{org.pk}/applications/"
    assert [alice_api.post(url, {"name": f"app {i}"}, format="json").status_code for i in range(2)] == [201, 201]
    body = assert_problem(alice_api.post(url, {"name": "one too many"}, format="json"), 409)
    assert "limit of 2 applications per organisation" in body["detail"]


def test_organisations_per_person_are_capped(alice_api, org, settings) -> None:
    settings.PORTICO_MAX_ORGANISATIONS_PER_USER = 1  # alice already belongs to Acme
    assert_problem(alice_api.post("/api/v1/organisations/", {"name": "Second"}, format="json"), 409)


def test_open_invitations_and_members_per_organisation_are_capped(alice_api, org, settings) -> None:
    url = f"/api/v1/organisations/{org.pk}/invitations/"
    settings.PORTICO_MAX_OPEN_INVITATIONS_PER_ORGANISATION = 1
    assert alice_api.post(url, {"email": "one@example.com", "role": "member"}, format="json").status_code == 201
    assert_problem(alice_api.post(url, {"email": "two@example.com", "role": "member"}, format="json"), 409)
    # Inviting the same person again replaces their invitation: still within the cap.
    assert alice_api.post(url, {"email": "one@example.com", "role": "admin"}, format="json").status_code == 201
    settings.PORTICO_MAX_OPEN_INVITATIONS_PER_ORGANISATION = 50
    settings.PORTICO_MAX_MEMBERS_PER_ORGANISATION = 2  # alice and bob
    assert_problem(alice_api.post(url, {"email": "three@example.com", "role": "member"}, format="json"), 409)


def test_access_tokens_per_person_are_capped(alice, settings) -> None:
    from foundation.errors import LimitReached

    settings.PORTICO_MAX_ACCESS_TOKENS_PER_USER = 2
    access_token_issue(user=alice, name="one")
    access_token_issue(user=alice, name="two")
    with pytest.raises(LimitReached):
        access_token_issue(user=alice, name="three")


def test_chained_rotations_cannot_pile_up_live_keys(alice, application, subscription, settings) -> None:
    from foundation.errors import LimitReached

    settings.PORTICO_MAX_ACTIVE_KEYS_PER_APPLICATION = 1
    first, _ = key_issue(actor=alice, application=application, name="k")
    second, _ = key_rotate(actor=alice, key=first, grace=timedelta(hours=1))  # one active, one in grace
    with pytest.raises(LimitReached):
        key_rotate(actor=alice, key=second, grace=timedelta(hours=1))


def test_the_rest_api_throttles_each_user_and_says_when_to_retry(alice_api, org, monkeypatch) -> None:
    monkeypatch.setitem(UserRateThrottle.THROTTLE_RATES, "user", "3/minute")
    answers = [alice_api.get("/api/v1/organisations/") for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    throttled = assert_problem(answers[3], 429)
    assert throttled["type"].endswith("/throttled") and 1 <= int(answers[3]["Retry-After"]) <= 61
