import pytest
from django.core import mail

from foundation.errors import Conflict, NotFound, PermissionDenied
from foundation.models import AuditEvent
from portal.models import Membership, Role
from portal.selectors import membership_get
from portal.services.organisations import (
    invitation_accept,
    invitation_create,
    invitation_from_token,
    invitation_token,
    membership_change_role,
    membership_remove,
    organisation_ensure_personal,
)


def test_new_user_gets_a_personal_organisation_once(alice) -> None:
    first = organisation_ensure_personal(user=alice)
    second = organisation_ensure_personal(user=alice)
    assert first == second and first.is_personal
    assert Membership.objects.get(organisation=first, user=alice).role == Role.OWNER


def test_outsider_cannot_see_an_organisation(org, charlie) -> None:
    with pytest.raises(NotFound):
        membership_get(user=charlie, organisation_id=org.pk)
    with pytest.raises(NotFound):
        membership_get(user=charlie, organisation_id="not-a-number")


def test_invitation_is_emailed_signed_and_accepted_by_its_addressee(
    org, alice, charlie, django_capture_on_commit_callbacks
) -> None:
    owner = membership_get(user=alice, organisation_id=org.pk)
    with django_capture_on_commit_callbacks(execute=True):
        invitation = invitation_create(membership=owner, email="Charlie@Example.com", role=Role.ADMIN)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["charlie@example.com"]
    token = invitation_token(invitation)
    assert token in mail.outbox[0].body
    membership = invitation_accept(token=token, user=charlie)
    assert membership.role == Role.ADMIN
    with pytest.raises(NotFound):
        invitation_accept(token=token, user=charlie)  # single use


def test_tampered_or_foreign_invitation_links_are_refused(org, alice, bob, charlie) -> None:
    owner = membership_get(user=alice, organisation_id=org.pk)
    invitation = invitation_create(membership=owner, email="someone@example.com", role=Role.MEMBER)
    token = invitation_token(invitation)
    with pytest.raises(NotFound):
        invitation_from_token(token[:-2] + "xx")
    with pytest.raises(PermissionDenied):
        invitation_accept(token=token, user=charlie)


def test_member_cannot_invite_and_admin_cannot_invite_owners(org, alice, bob) -> None:
    member = membership_get(user=bob, organisation_id=org.pk)
    with pytest.raises(PermissionDenied):
        invitation_create(membership=member, email="x@example.com", role=Role.MEMBER)
    owner = membership_get(user=alice, organisation_id=org.pk)
    membership_change_role(membership=owner, target=member, role=Role.ADMIN)
    admin = membership_get(user=bob, organisation_id=org.pk)
    with pytest.raises(PermissionDenied):
        invitation_create(membership=admin, email="x@example.com", role=Role.OWNER)


def test_last_owner_cannot_leave_or_be_demoted(org, alice) -> None:
    owner = membership_get(user=alice, organisation_id=org.pk)
    with pytest.raises(Conflict):
        membership_change_role(membership=owner, target=owner, role=Role.MEMBER)
    with pytest.raises(Conflict):
        membership_remove(membership=owner, target=owner)


def test_removing_a_member_is_audited(org, alice, bob) -> None:
    owner = membership_get(user=alice, organisation_id=org.pk)
    member = membership_get(user=bob, organisation_id=org.pk)
    membership_remove(membership=owner, target=member)
    event = AuditEvent.objects.get(action="member.removed")
    assert event.organisation == org and event.actor == alice and event.data["email"] == bob.email
