"""/api/v1/organisations/{id}/members/: list, change role (owners), remove (managers) and leave."""

from portal.models import Membership
from tests.api.conftest import assert_problem
from tests.factories import MembershipFactory


def test_every_member_sees_the_member_list(bob_api, org, django_assert_max_num_queries) -> None:
    for _ in range(5):
        MembershipFactory(organisation=org)
    with django_assert_max_num_queries(4):
        response = bob_api.get(f"/api/v1/organisations/{org.pk}/members/")
    body = response.json()
    assert response.status_code == 200 and body["count"] == 7
    assert {"alice@example.com", "bob@example.com"} <= {member["user"]["email"] for member in body["results"]}


def test_the_owner_promotes_a_member_to_admin(alice_api, org, bob_membership) -> None:
    url = f"/api/v1/organisations/{org.pk}/members/{bob_membership.pk}/"
    response = alice_api.patch(url, {"role": "admin"}, format="json")
    assert response.status_code == 200 and response.json()["role"] == "admin"
    bob_membership.refresh_from_db()
    assert bob_membership.role == "admin"


def test_a_member_cannot_promote_themselves(bob_api, org, bob_membership) -> None:
    url = f"/api/v1/organisations/{org.pk}/members/{bob_membership.pk}/"
    assert_problem(bob_api.patch(url, {"role": "owner"}, format="json"), 403)
    bob_membership.refresh_from_db()
    assert bob_membership.role == "member"


def test_an_admin_cannot_change_roles_either(bob_api, org, bob_membership, owner) -> None:
    Membership.objects.filter(pk=bob_membership.pk).update(role="admin")
    url = f"/api/v1/organisations/{org.pk}/members/{owner.pk}/"
    assert_problem(bob_api.patch(url, {"role": "member"}, format="json"), 403)


def test_the_last_owner_cannot_step_down(alice_api, org, owner) -> None:
    url = f"/api/v1/organisations/{org.pk}/members/{owner.pk}/"
    assert_problem(alice_api.patch(url, {"role": "member"}, format="json"), 409)


def test_an_unknown_role_is_a_field_error(alice_api, org, bob_membership) -> None:
    url = f"/api/v1/organisations/{org.pk}/members/{bob_membership.pk}/"
    body = assert_problem(alice_api.patch(url, {"role": "superuser"}, format="json"), 400)
    assert list(body["errors"]) == ["role"]


def test_the_owner_removes_a_member(alice_api, org, bob_membership) -> None:
    response = alice_api.delete(f"/api/v1/organisations/{org.pk}/members/{bob_membership.pk}/")
    assert response.status_code == 204
    assert not Membership.objects.filter(pk=bob_membership.pk).exists()


def test_a_member_cannot_remove_the_owner(bob_api, org, owner) -> None:
    assert_problem(bob_api.delete(f"/api/v1/organisations/{org.pk}/members/{owner.pk}/"), 403)
    assert Membership.objects.filter(pk=owner.pk).exists()


def test_a_member_may_leave(bob_api, org, bob_membership) -> None:
    assert bob_api.delete(f"/api/v1/organisations/{org.pk}/members/{bob_membership.pk}/").status_code == 204
    assert not Membership.objects.filter(pk=bob_membership.pk).exists()


def test_a_member_id_of_another_organisation_is_not_found(alice_api, org, charlie_org, charlie) -> None:
    foreign = Membership.objects.get(organisation=charlie_org, user=charlie)
    assert_problem(alice_api.get(f"/api/v1/organisations/{org.pk}/members/{foreign.pk}/"), 404)
    assert_problem(alice_api.delete(f"/api/v1/organisations/{org.pk}/members/{foreign.pk}/"), 404)
    assert Membership.objects.filter(pk=foreign.pk).exists()
