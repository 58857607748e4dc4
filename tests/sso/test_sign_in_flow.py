"""The whole authorization-code flow (with PKCE) against a real provider process: the portal under pytest-django's
live_server, a requests session as the browser. Each case of the takeover rule (docs/sso.md) ends in the database."""

from __future__ import annotations

import uuid
from typing import Any

import requests
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount, SocialApp
from django.contrib.auth import get_user_model

from foundation.audit_chain import chain_verify
from foundation.models import AuditEvent
from portal.models import Membership, Role
from tests.factories import PASSWORD as LOCAL_PASSWORD
from tests.factories import UserFactory
from tests.support.browser_stack import totp_code
from tests.support.mfa import give_totp
from tests.support.oidc_server import sso_sign_in


def _person(provider: Any, domain: str = "acme.test", prefix: str = "") -> tuple[str, str]:
    username = f"{prefix}p{uuid.uuid4().hex[:8]}"
    email = f"{username.removeprefix(prefix)}@{domain}"
    provider.add_user(username, email)
    return username, email


def _signed_in(session: Any, portal: str) -> bool:
    dashboard = session.get(f"{portal}/", allow_redirects=False, timeout=10)
    return dashboard.status_code == 200


def test_an_allowed_domain_signs_up_signs_in_and_joins_the_organisation_with_the_role(
    live_server, oidc_provider, sso_policy, acme
) -> None:
    username, email = _person(oidc_provider)
    session, landed = sso_sign_in(live_server.url, username)
    assert landed.url == f"{live_server.url}/", landed.url
    assert _signed_in(session, live_server.url)
    user = get_user_model().objects.get(email=email)
    assert not user.has_usable_password()  # SSO only, until they set one through a reset
    assert EmailAddress.objects.get(user=user, email=email).verified
    assert Membership.objects.get(user=user, organisation=acme).role == Role.ADMIN
    assert Membership.objects.filter(user=user, organisation__is_personal=True).exists()
    assert SocialAccount.objects.get(user=user).provider == "corp"
    actions = list(AuditEvent.objects.filter(actor=user).order_by("seq").values_list("action", flat=True))
    assert actions[:2] == ["account.signed_up", "sso.signed_up"] or "sso.signed_up" in actions
    assert {"account.login", "sso.login", "member.joined"} <= set(actions)
    assert chain_verify().broken is None


def test_the_client_secret_is_encrypted_at_rest_and_still_works(live_server, oidc_provider, sso_policy) -> None:
    stored = SocialApp.objects.get(provider_id="corp").secret
    assert stored.startswith("fernet:") and oidc_provider.client_secret not in stored
    username, _ = _person(oidc_provider)
    session, _ = sso_sign_in(live_server.url, username)
    assert _signed_in(session, live_server.url)  # the token request authenticated with the decrypted secret


def test_a_second_sign_in_finds_the_same_account_and_keeps_its_role(live_server, oidc_provider, sso_policy, acme):
    username, email = _person(oidc_provider)
    sso_sign_in(live_server.url, username)
    user = get_user_model().objects.get(email=email)
    Membership.objects.filter(user=user, organisation=acme).update(role=Role.MEMBER)  # an owner demoted them
    session, _ = sso_sign_in(live_server.url, username)
    assert _signed_in(session, live_server.url)
    assert get_user_model().objects.filter(email=email).count() == 1
    assert Membership.objects.get(user=user, organisation=acme).role == Role.MEMBER


def test_a_domain_the_provider_is_not_trusted_for_is_refused_with_a_clear_message(
    live_server, oidc_provider, sso_policy
) -> None:
    username, email = _person(oidc_provider, domain="elsewhere.test")
    session, landed = sso_sign_in(live_server.url, username)
    assert landed.url.startswith(f"{live_server.url}/accounts/login/")
    assert "Addresses at elsewhere.test cannot sign in with Corp SSO" in landed.text
    assert not _signed_in(session, live_server.url)
    assert not get_user_model().objects.filter(email=email).exists()
    refusal = AuditEvent.objects.get(action="sso.refused")
    assert refusal.actor_label == email and refusal.data["provider"] == "corp"


def test_an_address_the_provider_did_not_verify_is_refused(live_server, oidc_provider, sso_policy) -> None:
    username, email = _person(oidc_provider, prefix="unverified-")
    session, landed = sso_sign_in(live_server.url, username)
    assert "did not confirm your email address" in landed.text
    assert not _signed_in(session, live_server.url)
    assert not get_user_model().objects.filter(email=email).exists()


def test_an_existing_confirmed_local_account_is_linked_and_keeps_its_password(
    live_server, oidc_provider, sso_policy, acme
) -> None:
    username, email = _person(oidc_provider)
    local = UserFactory(username="local-" + username, email=email)
    EmailAddress.objects.create(user=local, email=email, verified=True, primary=True)
    session, landed = sso_sign_in(live_server.url, username)
    assert landed.url == f"{live_server.url}/"
    assert get_user_model().objects.filter(email=email).count() == 1
    assert SocialAccount.objects.get(provider="corp").user == local
    local.refresh_from_db()
    assert local.check_password(LOCAL_PASSWORD)
    assert AuditEvent.objects.filter(action="sso.linked", actor=local).exists()
    assert Membership.objects.get(user=local, organisation=acme).role == Role.ADMIN


def test_an_unconfirmed_local_account_with_the_address_is_not_taken_over(
    live_server, oidc_provider, sso_policy
) -> None:
    """Pre-hijacking: someone signed up with the victim's address and never confirmed it. The SSO sign-in of the
    real owner must neither land in that account nor leave it the attacker's password plus a linked identity."""
    username, email = _person(oidc_provider)
    squatter = UserFactory(username="squatter-" + username, email=email)
    EmailAddress.objects.create(user=squatter, email=email, verified=False, primary=True)
    session, landed = sso_sign_in(live_server.url, username)
    assert "its address was never confirmed" in landed.text
    assert not _signed_in(session, live_server.url)
    assert not SocialAccount.objects.exists()


def test_linking_can_be_switched_off_per_provider(live_server, oidc_provider, sso_policy) -> None:
    sso_policy.link_existing_accounts = False
    sso_policy.save()
    username, email = _person(oidc_provider)
    local = UserFactory(username="local-" + username, email=email)
    EmailAddress.objects.create(user=local, email=email, verified=True, primary=True)
    session, landed = sso_sign_in(live_server.url, username)
    assert "An account with this address already exists" in landed.text
    assert not _signed_in(session, live_server.url)
    assert not SocialAccount.objects.exists()


def test_staff_signing_in_by_sso_still_give_their_second_factor(live_server, oidc_provider, sso_policy) -> None:
    username, email = _person(oidc_provider)
    staff = UserFactory(username="staff-" + username, email=email, is_staff=True)
    EmailAddress.objects.create(user=staff, email=email, verified=True, primary=True)
    secret = give_totp(staff)
    session, landed = sso_sign_in(live_server.url, username)
    assert landed.url.startswith(f"{live_server.url}/accounts/2fa/authenticate/"), landed.url
    assert not _signed_in(session, live_server.url)
    assert not AuditEvent.objects.filter(action="sso.login").exists()  # nothing applied before the code
    refused = session.get(f"{live_server.url}/admin/", timeout=10)
    assert refused.url.startswith(f"{live_server.url}/accounts/2fa/authenticate/")  # the pending code, again
    done = session.post(
        landed.url, data={"csrfmiddlewaretoken": session.cookies["csrftoken"], "code": totp_code(secret)}, timeout=10
    )
    assert done.url == f"{live_server.url}/"
    admin = session.get(f"{live_server.url}/admin/", timeout=10)
    assert admin.url == f"{live_server.url}/admin/" and "Portico administration" in admin.text
    assert AuditEvent.objects.filter(action="sso.login", actor=staff).exists()


def _password_session(portal: str, email: str) -> Any:
    session = requests.Session()
    session.get(f"{portal}/accounts/login/", timeout=10)
    signed_in = session.post(
        f"{portal}/accounts/login/",
        data={"csrfmiddlewaretoken": session.cookies["csrftoken"], "login": email, "password": LOCAL_PASSWORD},
        timeout=10,
    )
    assert signed_in.url == f"{portal}/", signed_in.url
    return session


def test_a_signed_in_person_connects_an_identity_at_an_allowed_domain_only(
    live_server, oidc_provider, sso_policy
) -> None:
    local = UserFactory(username="connector-" + uuid.uuid4().hex[:6])
    EmailAddress.objects.create(user=local, email=local.email, verified=True, primary=True)
    outside, _ = _person(oidc_provider, domain="elsewhere.test")
    session = _password_session(live_server.url, local.email)
    _, refused = sso_sign_in(live_server.url, outside, session=session, process="connect")
    assert refused.url == f"{live_server.url}/accounts/3rdparty/"
    assert "Addresses at elsewhere.test cannot sign in with Corp SSO" in refused.text
    assert not SocialAccount.objects.exists()
    inside, _ = _person(oidc_provider)
    _, connected = sso_sign_in(live_server.url, inside, session=session, process="connect")
    assert connected.url == f"{live_server.url}/accounts/3rdparty/"
    assert SocialAccount.objects.get(provider="corp").user == local
