"""The main developer flow through the REST API, end to end."""

import pytest

from keys import tokens


@pytest.mark.smoke
def test_a_developer_creates_an_app_subscribes_issues_rotates_and_revokes_a_key(alice_pat, org, free_plan) -> None:
    app = alice_pat.post(f"/api/v1/organisations/{org.pk}/applications/", {"name": "Storefront"}, format="json")
    assert app.status_code == 201
    app_id = app.json()["id"]

    subscribed = alice_pat.post(f"/api/v1/applications/{app_id}/subscriptions/", {"plan": free_plan.pk}, format="json")
    assert subscribed.status_code == 201 and subscribed.json()["status"] == "active"

    issued = alice_pat.post(
        f"/api/v1/applications/{app_id}/keys/", {"name": "Backend", "apis": ["weather"]}, format="json"
    )
    assert issued.status_code == 201 and issued["Cache-Control"] == "no-store"
    first_secret, first_id = issued.json()["secret"], issued.json()["key"]["id"]
    assert tokens.is_well_formed(first_secret)

    rotated = alice_pat.post(f"/api/v1/keys/{first_id}/rotate/", {"grace": "1h"}, format="json")
    assert rotated.status_code == 201
    second_secret, second_id = rotated.json()["secret"], rotated.json()["key"]["id"]
    assert second_secret != first_secret

    listed = alice_pat.get(f"/api/v1/applications/{app_id}/keys/").json()["results"]
    assert {key["id"]: key["state"] for key in listed} == {first_id: "grace", second_id: "active"}
    assert first_secret not in str(listed) and second_secret not in str(listed)

    for key_id in (first_id, second_id):
        assert alice_pat.post(f"/api/v1/keys/{key_id}/revoke/").json()["state"] == "revoked"
    states = {key["state"] for key in alice_pat.get(f"/api/v1/applications/{app_id}/keys/").json()["results"]}
    assert states == {"revoked"}
