"""/api/v1/organisations/{id}/audit-events/: the organisation's trail, for owners and admins only."""

from keys.services import key_revoke
from tests.api.conftest import assert_problem


def test_the_owner_reads_the_trail_newest_first(alice_api, org, api_key, alice, django_assert_max_num_queries) -> None:
    key, secret = api_key
    key_revoke(actor=alice, key=key)
    with django_assert_max_num_queries(3):
        response = alice_api.get(f"/api/v1/organisations/{org.pk}/audit-events/")
    events = response.json()["results"]
    assert [e["action"] for e in events][:3] == ["key.revoked", "key.created", "subscription.created"]
    assert events[0]["actor"] == "alice@example.com" and events[0]["target_id"] == str(key.pk)
    assert secret not in response.content.decode()


def test_the_trail_filters_by_action_and_category(alice_api, org, api_key, alice) -> None:
    key_revoke(actor=alice, key=api_key[0])
    url = f"/api/v1/organisations/{org.pk}/audit-events/"
    assert [e["action"] for e in alice_api.get(url, {"action": "key.revoked"}).json()["results"]] == ["key.revoked"]
    assert {e["action"] for e in alice_api.get(url, {"category": "key"}).json()["results"]} == {
        "key.created",
        "key.revoked",
    }
    assert alice_api.get(url, {"since": "2999-01-01T00:00:00Z"}).json()["count"] == 0
    assert "since" in assert_problem(alice_api.get(url, {"since": "yesterday"}), 400)["errors"]


def test_a_plain_member_cannot_read_the_trail(bob_api, org) -> None:
    assert_problem(bob_api.get(f"/api/v1/organisations/{org.pk}/audit-events/"), 403)


def test_the_trail_shows_only_this_organisations_events(alice_api, org, charlie_application, charlie) -> None:
    from portal.selectors import membership_get
    from portal.services.applications import application_update

    membership = membership_get(user=charlie, organisation_id=charlie_application.organisation_id)
    application_update(membership=membership, application=charlie_application, name="Charlie's secret project")
    response = alice_api.get(f"/api/v1/organisations/{org.pk}/audit-events/")
    assert "Charlie" not in response.content.decode()
