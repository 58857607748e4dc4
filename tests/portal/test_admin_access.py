"""The admin needs staff + MFA, and its login is the portal's (rate-limited, MFA-aware) login."""

import pytest
from allauth.mfa.models import Authenticator

from foundation.models import AuditEvent
from keys.models import ApiKey
from portal.models import Subscription
from portal.services import subscription_create


@pytest.fixture
def staff(db):
    from tests.conftest import _verified_user

    user = _verified_user("staffer")
    user.is_staff = user.is_superuser = True
    user.save()
    return user


def _with_totp(user):
    Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP, data={"secret": "JBSWY3DPEHPK3PXP"})
    return user


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
    client.force_login(_with_totp(staff))
    key, secret = api_key
    page = client.get(f"/admin/keys/apikey/{key.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert key.digest not in body and secret not in body and key.prefix in body


def test_admin_actions_approve_subscriptions_and_revoke_keys(client, staff, org, pro_plan, api_key, alice) -> None:
    from tests.factories import ApplicationFactory

    client.force_login(_with_totp(staff))
    pending = subscription_create(actor=alice, application=ApplicationFactory(organisation=org), plan=pro_plan)
    client.post("/admin/portal/subscription/", {"action": "approve", "_selected_action": [pending.pk]})
    pending.refresh_from_db()
    assert pending.status == Subscription.Status.ACTIVE
    key, _ = api_key
    client.post("/admin/keys/apikey/", {"action": "revoke", "_selected_action": [key.pk]})
    assert ApiKey.objects.get(pk=key.pk).status == "revoked"
    assert AuditEvent.objects.filter(action="key.revoked", actor=staff).exists()
