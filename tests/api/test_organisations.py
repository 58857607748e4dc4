"""/api/v1/organisations/: list, create, retrieve, rename."""

from foundation.models import AuditEvent
from portal.models import Membership, Organisation
from tests.api.conftest import assert_problem
from tests.factories import MembershipFactory


def test_members_list_their_organisations_with_their_role(alice_api, bob_api, org, charlie_org) -> None:
    assert [(o["name"], o["role"]) for o in alice_api.get("/api/v1/organisations/").json()["results"]] == [
        ("Acme", "owner")
    ]
    assert [o["role"] for o in bob_api.get("/api/v1/organisations/").json()["results"]] == ["member"]


def test_organisation_list_has_a_fixed_query_count(alice_api, alice, django_assert_max_num_queries) -> None:
    for number in range(6):
        MembershipFactory(user=alice, organisation__name=f"Org {number}", role="admin")
    with django_assert_max_num_queries(2):
        response = alice_api.get("/api/v1/organisations/")
    assert response.json()["count"] == 6


def test_creating_an_organisation_makes_the_requester_its_owner(alice_api, alice) -> None:
    response = alice_api.post("/api/v1/organisations/", {"name": "  Globex "}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Globex" and body["role"] == "owner" and body["is_personal"] is False
    assert Membership.objects.get(organisation_id=body["id"], user=alice).role == "owner"
    assert AuditEvent.objects.filter(action="organisation.created", organisation_id=body["id"]).exists()


def test_creating_an_organisation_cannot_set_its_status(alice_api) -> None:
    response = alice_api.post(
        "/api/v1/organisations/", {"name": "Globex", "status": "suspended", "is_personal": True}, format="json"
    )
    body = assert_problem(response, 400)
    assert set(body["errors"]) == {"status", "is_personal"}
    assert not Organisation.objects.filter(name="Globex").exists()


def test_a_member_reads_the_organisation(bob_api, org) -> None:
    response = bob_api.get(f"/api/v1/organisations/{org.pk}/")
    assert response.status_code == 200
    assert response.json() | {"created_at": None} == {
        "id": org.pk,
        "name": "Acme",
        "is_personal": False,
        "status": "active",
        "created_at": None,
        "role": "member",
    }


def test_the_owner_renames_the_organisation(alice_api, org) -> None:
    response = alice_api.patch(f"/api/v1/organisations/{org.pk}/", {"name": "Acme Ltd"}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "Acme Ltd"
    org.refresh_from_db()
    assert org.name == "Acme Ltd"


def test_a_plain_member_cannot_rename_the_organisation(bob_api, org) -> None:
    assert_problem(bob_api.patch(f"/api/v1/organisations/{org.pk}/", {"name": "Bob's"}, format="json"), 403)
    org.refresh_from_db()
    assert org.name == "Acme"


def test_an_organisation_name_must_be_one_line(alice_api, org) -> None:
    body = assert_problem(alice_api.patch(f"/api/v1/organisations/{org.pk}/", {"name": "A\nB"}, format="json"), 400)
    assert "name" in body["errors"]
