"""The admin needs staff + a session that passed MFA recently, and its login is the portal's (rate-limited,
MFA-aware) login."""

from datetime import timedelta

import time_machine
from django.utils import timezone

from foundation.models import AuditEvent
from keys.models import ApiKey
from portal.models import Subscription
from portal.services.applications import subscription_create
from tests.factories import PASSWORD
from tests.support.browser_stack import totp_code
from tests.support.mfa import give_totp, sign_in_with_totp


def test_anonymous_admin_visit_goes_to_the_portal_login(client, db) -> None:
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/")


def test_non_staff_user_is_turned_away(alice_client) -> None:
    response = alice_client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0] == "/"


def test_staff_without_mfa_is_sent_to_totp_setup(client, staff) -> None:
    client.force_login(staff)
    response = client.get("/admin/", follow=True)
    # allauth asks for the password again before MFA set-up, then continues to TOTP activation.
    assert (
        "2fa%2Ftotp%2Factivate" in response.redirect_chain[-1][0]
        or "/2fa/totp/activate" in response.redirect_chain[-1][0]
    )


def test_staff_with_mfa_gets_in_and_never_sees_key_digests(client, staff, api_key) -> None:
    sign_in_with_totp(client, staff)
    key, secret = api_key
    page = client.get(f"/admin/keys/apikey/{key.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert key.digest not in body and secret not in body and key.prefix in body


def test_admin_actions_approve_subscriptions_and_revoke_keys(client, staff, org, pro_plan, api_key, alice) -> None:
    from tests.factories import ApplicationFactory

    sign_in_with_totp(client, staff)
    pending = subscription_create(actor=alice, application=ApplicationFactory(organisation=org), plan=pro_plan)
    client.post("/admin/portal/subscription/", {"action": "approve", "_selected_action": [pending.pk]})
    pending.refresh_from_db()
    assert pending.status == Subscription.Status.ACTIVE
    key, _ = api_key
    client.post("/admin/keys/apikey/", {"action": "revoke", "_selected_action": [key.pk]})
    assert ApiKey.objects.get(pk=key.pk).status == "revoked"
    assert AuditEvent.objects.filter(action="key.revoked", actor=staff).exists()


def test_staff_change_a_role_through_the_service_and_are_the_audited_actor(client, staff, org, bob) -> None:
    from portal.models import Membership

    sign_in_with_totp(client, staff)
    membership = Membership.objects.get(organisation=org, user=bob)
    page = client.post(f"/admin/portal/membership/{membership.pk}/change/", {"role": "admin"})
    assert page.status_code == 302
    assert Membership.objects.get(pk=membership.pk).role == "admin"
    event = AuditEvent.objects.get(action="member.role_changed", target_id=str(membership.pk))
    assert event.actor == staff and event.data == {"from": "member", "to": "admin"}


def test_staff_cannot_demote_or_remove_the_last_owner_and_see_why(client, staff, org, alice) -> None:
    from portal.models import Membership

    sign_in_with_totp(client, staff)
    owner = Membership.objects.get(organisation=org, user=alice)
    demote = client.post(f"/admin/portal/membership/{owner.pk}/change/", {"role": "member"}, follow=True)
    assert demote.status_code == 200 and "at least one owner" in demote.content.decode()
    remove = client.post(f"/admin/portal/membership/{owner.pk}/delete/", {"post": "yes"}, follow=True)
    assert remove.status_code == 200 and "at least one owner" in remove.content.decode()
    assert Membership.objects.get(pk=owner.pk).role == "owner"
    assert not AuditEvent.objects.filter(action__in=["member.role_changed", "member.removed"]).exists()


def test_the_organisation_page_lists_members_without_editing_them(client, staff, org) -> None:
    sign_in_with_totp(client, staff)
    body = client.get(f"/admin/portal/organisation/{org.pk}/change/").content.decode()
    assert "Memberships" in body and ">alice<" in body
    assert 'name="memberships-0-role"' not in body and "memberships-0-DELETE" not in body


def test_staff_revoking_a_personal_access_token_are_the_audited_actor(client, staff, alice) -> None:
    from keys.models import PersonalAccessToken
    from keys.services import access_token_issue

    sign_in_with_totp(client, staff)
    token, _ = access_token_issue(user=alice, name="Leaked in a gist")
    client.post("/admin/keys/personalaccesstoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert PersonalAccessToken.objects.get(pk=token.pk).revoked_at is not None
    event = AuditEvent.objects.get(action="access_token.revoked")
    assert event.actor == staff and event.data["owner"] == "alice@example.com"


def test_staff_setting_up_mfa_for_the_admin_give_their_password_once_and_get_back_to_the_admin(
    transactional_db, staff
) -> None:
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value, yield_hotp_counters_from_time
    from django.test import Client

    from tests.portal.pages_helpers import PASSWORD, log_in

    staff.set_password(PASSWORD)
    staff.save()
    client = Client()
    assert client.get("/admin/", follow=True).redirect_chain[-1][0].startswith("/accounts/login/")
    log_in(client, staff.email)
    setup = client.get("/admin/", follow=True)
    assert setup.redirect_chain[-1][0] == "/accounts/2fa/totp/activate/"  # no second password prompt
    secret = setup.context["form"].secret
    code = format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))
    # A real commit (allauth signals the activation on commit): its code counts as this session's second factor.
    codes = client.post("/accounts/2fa/totp/activate/", {"code": code}, follow=True)
    assert codes.redirect_chain[-1][0] == "/accounts/2fa/recovery-codes/"
    assert '<a class="btn btn-primary" href="/admin/">Continue to the admin</a>' in codes.content.decode()
    assert client.get("/admin/").status_code == 200


def test_the_admin_index_shows_no_oauth_internals_and_names_read_only_sections(staff_client) -> None:
    page = staff_client.get("/admin/").content.decode()
    for hidden in ("Grants", "Id tokens", "Refresh tokens", "Access tokens", "Django OAuth Toolkit"):
        assert hidden not in page
    assert "Usage records (read-only)" in page and "Audit trail (read-only)" in page and "Gateways" in page


def test_a_staff_session_that_never_gave_its_second_factor_is_asked_for_a_code(client, staff) -> None:
    """Having TOTP is not enough: an old password-only session (here force_login) must give a code first."""
    secret = give_totp(staff)
    client.force_login(staff)
    refused = client.get("/admin/", follow=True)
    assert refused.redirect_chain[-1][0] == "/accounts/2fa/reauthenticate/?next=%2Fadmin%2F"
    assert client.get("/admin/keys/apikey/").status_code == 302
    confirmed = client.post(refused.redirect_chain[-1][0], {"code": totp_code(secret)})
    assert confirmed["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_the_admin_asks_for_the_second_factor_again_after_the_configured_time(client, staff, settings) -> None:
    settings.PORTICO_ADMIN_REAUTHENTICATION_TIMEOUT = 600
    sign_in_with_totp(client, staff)
    assert client.get("/admin/").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(seconds=590)):
        assert client.get("/admin/").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(seconds=610)):
        stale = client.get("/admin/", follow=True)
        assert stale.redirect_chain[-1][0].startswith("/accounts/2fa/reauthenticate/")


def test_a_password_does_not_stand_in_for_the_second_factor_at_reauthentication(client, staff) -> None:
    give_totp(staff)
    client.force_login(staff)
    assert client.get("/accounts/reauthenticate/")["Location"].startswith("/accounts/2fa/reauthenticate/")
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    assert client.get("/admin/").status_code == 302
