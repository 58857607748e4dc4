"""Organisations: create, members and roles (htmx rows), invitations (send, revoke, accept)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.test import Client
from django.utils import timezone

from portal.models import Invitation, Membership, Organisation, Role
from portal.services.organisations import invitation_create, invitation_token
from tests.portal.pages_helpers import htmx_post, text, unique_email, verified_user


def _owner(org: Any, alice: Any) -> Membership:
    return Membership.objects.get(organisation=org, user=alice)


def test_creating_a_team_organisation_makes_the_creator_its_owner(alice: Any, alice_client: Client) -> None:
    response = alice_client.post("/orgs/new/", {"name": "Rocket team"})
    team = Organisation.objects.get(name="Rocket team")
    assert response["Location"] == f"/orgs/{team.pk}/members/"
    assert Membership.objects.get(organisation=team, user=alice).role == Role.OWNER
    assert "Rocket team" in text(alice_client.get("/"))  # it became the current organisation


def test_the_organisation_form_re_renders_with_errors(alice_client: Client) -> None:
    for name, error in [("", "This field is required."), ("bad\x00name", "Null characters are not allowed.")]:
        response = alice_client.post("/orgs/new/", {"name": name})
        assert response.status_code == 200 and error in text(response)


def test_members_see_the_member_list_without_management_controls(bob_client: Client, org: Any) -> None:
    page = text(bob_client.get(f"/orgs/{org.pk}/members/"))
    assert "alice@example.com" in page and "bob@example.com" in page
    assert "Invite someone" not in page and "Pending invitations" not in page and "Remove" not in page


def test_an_owner_invites_by_email_and_the_invitation_is_listed(
    alice_client: Client, org: Any, mailoutbox: list, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # the email leaves after the commit
        response = alice_client.post(
            f"/orgs/{org.pk}/members/invite/", {"email": "Dana@Example.com", "role": "admin"}, follow=True
        )
    assert "Invitation sent to dana@example.com as admin." in text(response)
    assert "dana@example.com" in text(response)
    assert mailoutbox[-1].to == ["dana@example.com"]


def test_the_invite_form_re_renders_with_errors(alice_client: Client, org: Any) -> None:
    response = alice_client.post(f"/orgs/{org.pk}/members/invite/", {"email": "not-an-email", "role": "member"})
    assert response.status_code == 200 and "Enter a valid email address." in text(response)
    response = alice_client.post(f"/orgs/{org.pk}/members/invite/", {"email": "bob@example.com", "role": "member"})
    assert response.status_code == 200 and "Already a member." in text(response)


def test_revoking_an_invitation_with_htmx_returns_the_updated_list(alice: Any, alice_client: Client, org: Any) -> None:
    invitation = invitation_create(membership=_owner(org, alice), email="dana@example.com", role=Role.MEMBER)
    response = htmx_post(alice_client, f"/orgs/{org.pk}/invitations/{invitation.pk}/revoke/")
    assert response.status_code == 200
    page = text(response)
    assert page.startswith('<div id="invitation-list">') and "No pending invitations" in page
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None


def test_an_owner_changes_a_role_inline_and_gets_the_row_back(alice_client: Client, org: Any, bob: Any) -> None:
    member = Membership.objects.get(organisation=org, user=bob)
    url = f"/orgs/{org.pk}/members/{member.pk}/role/"
    response = htmx_post(alice_client, url, {f"m{member.pk}-role": "admin"})
    assert response.status_code == 200 and text(response).strip().startswith(f'<tr id="member-{member.pk}">')
    member.refresh_from_db()
    assert member.role == Role.ADMIN


def test_the_last_owner_cannot_demote_themself_and_the_row_says_why(alice: Any, alice_client: Client, org: Any) -> None:
    owner = _owner(org, alice)
    response = htmx_post(alice_client, f"/orgs/{org.pk}/members/{owner.pk}/role/", {f"m{owner.pk}-role": "member"})
    assert response.status_code == 200 and "at least one owner" in text(response)
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_an_owner_removes_a_member_after_confirmation(alice_client: Client, org: Any, bob: Any) -> None:
    member = Membership.objects.get(organisation=org, user=bob)
    url = f"/orgs/{org.pk}/members/{member.pk}/remove/"
    assert "Remove bob@example.com?" in text(alice_client.get(url))
    response = alice_client.post(url, follow=True)
    assert "bob@example.com was removed" in text(response)
    assert not Membership.objects.filter(pk=member.pk).exists()


def test_a_member_can_leave_a_team(bob_client: Client, org: Any, bob: Any) -> None:
    member = Membership.objects.get(organisation=org, user=bob)
    response = bob_client.post(f"/orgs/{org.pk}/members/{member.pk}/remove/", follow=True)
    assert "You left Acme." in text(response)
    assert bob_client.get(f"/orgs/{org.pk}/members/").status_code == 404


def test_the_invitation_page_explains_itself_to_visitors_and_accepts_for_the_invited_email(
    alice: Any, org: Any, db: Any
) -> None:
    email = unique_email("invitee")
    invitation = invitation_create(membership=_owner(org, alice), email=email, role=Role.ADMIN)
    url = f"/invitations/{invitation_token(invitation)}/"
    page = text(Client().get(url))
    assert "Join Acme" in page and "Sign in to accept" in page and "next=" in page

    stranger = Client()
    stranger.force_login(verified_user(unique_email("stranger")))
    assert "sent to" in text(stranger.get(url))
    stranger.post(url)
    assert Invitation.objects.get(pk=invitation.pk).accepted_at is None

    invitee_user = verified_user(email)
    invitee = Client()
    invitee.force_login(invitee_user)
    assert "Accept invitation" in text(invitee.get(url))
    response = invitee.post(url, follow=True)
    assert "Welcome to Acme! You joined as admin." in text(response)
    assert Membership.objects.get(organisation=org, user=invitee_user).role == Role.ADMIN
    assert Client().get(url).status_code == 404  # used links are dead


def test_a_tampered_invitation_link_is_404(db: Any) -> None:
    response = Client().get("/invitations/not-a-real-token/")
    assert response.status_code == 404 and "invalid or has expired" in text(response)


def test_renaming_the_organisation_validates_the_name(alice_client: Client, org: Any) -> None:
    response = alice_client.post(f"/orgs/{org.pk}/settings/", {"name": "line\nbreak"})
    assert response.status_code == 200 and "Line breaks are not allowed." in text(response)
    alice_client.post(f"/orgs/{org.pk}/settings/", {"name": "Acme Ltd"})
    org.refresh_from_db()
    assert org.name == "Acme Ltd"
    assert re.search(r"Acme Ltd", text(alice_client.get("/orgs/")))


def test_a_new_invitation_replaces_the_open_one_and_the_role_joined_is_the_one_on_the_link_used(
    alice: Any, org: Any
) -> None:
    owner = _owner(org, alice)
    as_admin = invitation_create(membership=owner, email="dana@example.com", role=Role.ADMIN)
    as_member = invitation_create(membership=owner, email="DANA@example.com", role=Role.MEMBER)
    dana = Client()
    dana.force_login(verified_user("dana@example.com"))
    old_link = dana.post(f"/invitations/{invitation_token(as_admin)}/", follow=True)
    assert "invalid or has expired" in text(old_link)
    assert not Membership.objects.filter(organisation=org, user__email="dana@example.com").exists()
    joined = dana.post(f"/invitations/{invitation_token(as_member)}/", follow=True)
    assert "You joined as member." in text(joined)
    assert Membership.objects.get(organisation=org, user__email="dana@example.com").role == Role.MEMBER
    assert Invitation.objects.filter(organisation=org, accepted_at__isnull=True, revoked_at__isnull=True).count() == 0


def test_accepting_when_already_a_member_changes_nothing_and_says_so(alice: Any, bob: Any, org: Any) -> None:
    tomorrow = timezone.now() + timedelta(days=1)
    invitation = Invitation.objects.create(
        organisation=org, email="bob@example.com", role=Role.OWNER, expires_at=tomorrow
    )
    bob_client = Client()
    bob_client.force_login(bob)
    response = bob_client.post(f"/invitations/{invitation_token(invitation)}/", follow=True)
    assert "already a member of Acme (as member)" in text(response)
    assert Membership.objects.get(organisation=org, user=bob).role == Role.MEMBER


def test_a_new_visitor_signs_up_with_the_invited_email_prefilled_and_verified_by_the_link(
    alice: Any, org: Any, client: Client
) -> None:
    invitation = invitation_create(membership=_owner(org, alice), email="erin@example.com", role=Role.MEMBER)
    link = f"/invitations/{invitation_token(invitation)}/"
    page = client.get(link).content.decode()
    signup = re.search(r'href="(/accounts/signup/\?[^"]+)"', page).group(1).replace("&amp;", "&")
    form = client.get(signup).content.decode()
    assert 'value="erin@example.com"' in form
    password = "a-long-and-unusual-passphrase-42"
    client.post(signup, {"email": "erin@example.com", "password1": password, "password2": password})
    # No second verification round: the invitation link already proved the address.
    accepted = client.post(link, follow=True)
    assert "You joined as member." in text(accepted)
