"""/api/v1/organisations/{id}/invitations/: owners and admins invite, list and revoke."""

from django.core import mail

from portal.models import Invitation
from tests.api.conftest import assert_problem


def test_the_owner_invites_someone_by_email(alice_api, org, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.post(
            f"/api/v1/organisations/{org.pk}/invitations/",
            {"email": "Dave@Example.com", "role": "admin"},
            format="json",
        )
    assert response.status_code == 201
    body = response.json()
    assert (body["email"], body["role"], body["state"], body["invited_by"]) == (
        "dave@example.com",
        "admin",
        "open",
        "alice@example.com",
    )
    assert mail.outbox[0].to == ["dave@example.com"]


def test_a_member_cannot_invite(bob_api, org) -> None:
    url = f"/api/v1/organisations/{org.pk}/invitations/"
    assert_problem(bob_api.post(url, {"email": "eve@example.com"}, format="json"), 403)
    assert not Invitation.objects.exists()


def test_inviting_an_existing_member_is_a_conflict(alice_api, org) -> None:
    url = f"/api/v1/organisations/{org.pk}/invitations/"
    body = assert_problem(alice_api.post(url, {"email": "bob@example.com"}, format="json"), 409)
    assert body["errors"] == {"email": ["Already a member."]}


def test_an_invalid_email_is_a_field_error(alice_api, org) -> None:
    url = f"/api/v1/organisations/{org.pk}/invitations/"
    assert "email" in assert_problem(alice_api.post(url, {"email": "not an email"}, format="json"), 400)["errors"]


def test_invitations_are_listed_for_managers_only(
    alice_api, bob_api, org, owner, invitation, django_assert_max_num_queries
) -> None:
    from portal.services.organisations import invitation_create

    for number in range(4):
        invitation_create(membership=owner, email=f"guest{number}@example.com", role="member")
    with django_assert_max_num_queries(3):
        response = alice_api.get(f"/api/v1/organisations/{org.pk}/invitations/")
    assert response.json()["count"] == 5
    assert_problem(bob_api.get(f"/api/v1/organisations/{org.pk}/invitations/"), 403)
    assert_problem(bob_api.get(f"/api/v1/organisations/{org.pk}/invitations/{invitation.pk}/"), 403)


def test_revoking_an_invitation_keeps_it_on_record(alice_api, org, invitation) -> None:
    response = alice_api.post(f"/api/v1/organisations/{org.pk}/invitations/{invitation.pk}/revoke/")
    assert response.status_code == 200 and response.json()["state"] == "revoked"
    listed = alice_api.get(f"/api/v1/organisations/{org.pk}/invitations/", {"state": "revoked"}).json()
    assert [item["id"] for item in listed["results"]] == [invitation.pk]
    assert alice_api.get(f"/api/v1/organisations/{org.pk}/invitations/", {"state": "open"}).json()["count"] == 0


def test_a_member_cannot_revoke_an_invitation(bob_api, org, invitation) -> None:
    assert_problem(bob_api.post(f"/api/v1/organisations/{org.pk}/invitations/{invitation.pk}/revoke/"), 403)
    invitation.refresh_from_db()
    assert invitation.revoked_at is None
