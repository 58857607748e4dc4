"""The login page's SSO buttons and their CSP, the routes that answer, the admin's encrypted write-only secret,
and the checks on what a provider asserts (email_verified, ID tokens)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from django.test import Client
from django.urls import resolve
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from foundation.models import AuditEvent
from sso import oidc
from sso.models import SsoPolicy
from sso.services import SsoRefused, email_verified_claim, secret_open, sso_decide, sso_provider_save

ISSUER = "https://login.example.com/realms/corp"


@pytest.fixture
def corp(db: Any) -> SsoPolicy:
    return sso_provider_save(
        provider_id="corp", name="Corp SSO", server_url=ISSUER, client_id="portico", secret="s3cret-value",
        allowed_domains=["example.com"],
    )  # fmt: skip


def test_the_login_page_offers_each_provider_as_a_post_form(client: Client, corp: SsoPolicy) -> None:
    page = client.get("/accounts/login/")
    html = page.content.decode()
    assert 'action="/accounts/oidc/corp/login/?process=login"' in html
    assert "Log in with Corp SSO</button>" in html
    assert html.count("csrfmiddlewaretoken") == 2


def test_form_action_allows_the_providers_only_on_pages_that_post_to_them(client: Client, corp: SsoPolicy) -> None:
    login = client.get("/accounts/login/")["Content-Security-Policy"]
    assert "form-action 'self' https://login.example.com" in login
    assert "script-src 'self';" in login  # nothing else loosened
    assert "login.example.com" not in client.get("/accounts/signup/")["Content-Security-Policy"]


def test_without_providers_the_login_page_has_no_sso_section(client: Client, db: Any) -> None:
    page = client.get("/accounts/login/")
    assert "single sign-on" not in page.content.decode()
    assert "form-action 'self';" in page["Content-Security-Policy"] + ";"


def test_the_oidc_routes_are_served_by_portico_views() -> None:
    assert resolve("/accounts/oidc/corp/login/").func is oidc.login
    assert resolve("/accounts/oidc/corp/login/callback/").func is oidc.callback


def test_starting_a_sign_in_needs_a_post_with_a_csrf_token(corp: SsoPolicy) -> None:
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/accounts/oidc/corp/login/").status_code == 403
    page = strict.get("/accounts/oidc/corp/login/")  # a GET only asks to confirm; it does not leave the portal
    assert page.status_code == 200 and "login.example.com" not in page.get("Location", "")


def test_an_unknown_provider_is_404(client: Client, db: Any) -> None:
    assert client.post("/accounts/oidc/nobody/login/").status_code == 404


def test_staff_add_a_provider_in_the_admin_with_an_encrypted_write_only_secret(
    staff_client: Client, staff: Any
) -> None:
    form = {
        "name": "Okta", "provider_id": "okta", "server_url": "https://acme.okta.com", "client_id": "0oa1",
        "new_secret": "okta-client-secret-123",
    }  # fmt: skip
    assert staff_client.post("/admin/socialaccount/socialapp/add/", form).status_code == 302
    app = SocialApp.objects.get(provider_id="okta")
    assert app.provider == "openid_connect" and app.settings["server_url"] == "https://acme.okta.com"
    assert app.secret.startswith("fernet:") and "okta-client-secret-123" not in app.secret
    assert secret_open(app.secret) == "okta-client-secret-123"
    change = staff_client.get(f"/admin/socialaccount/socialapp/{app.pk}/change/").content.decode()
    assert "okta-client-secret-123" not in change and app.secret not in change
    staff_client.post(
        f"/admin/socialaccount/socialapp/{app.pk}/change/", {**form, "name": "Okta SSO", "new_secret": ""}
    )
    app.refresh_from_db()
    assert app.name == "Okta SSO" and secret_open(app.secret) == "okta-client-secret-123"
    assert AuditEvent.objects.filter(action="admin.added", actor=staff, data__model="socialaccount.SocialApp").exists()


def test_a_secret_too_long_to_store_encrypted_is_refused_in_the_admin(staff_client: Client) -> None:
    form = {
        "name": "X",
        "provider_id": "x",
        "server_url": "https://x.example",
        "client_id": "c",
        "new_secret": "s" * 80,
    }
    page = staff_client.post("/admin/socialaccount/socialapp/add/", form)
    assert page.status_code == 200 and "At most 79 bytes" in page.content.decode()
    assert not SocialApp.objects.filter(provider_id="x").exists()


def test_staff_set_allowed_domains_and_membership_rules_in_the_admin(
    staff_client: Client, corp: SsoPolicy, org: Any
) -> None:
    form = {
        "app": corp.app.pk, "allowed_domains": "Example.com, @acme.test", "link_existing_accounts": "on",
        "membership_rules-TOTAL_FORMS": "1", "membership_rules-INITIAL_FORMS": "0",
        "membership_rules-0-domain": "acme.test", "membership_rules-0-organisation": org.pk,
        "membership_rules-0-role": "member",
    }  # fmt: skip
    assert staff_client.post(f"/admin/sso/ssopolicy/{corp.pk}/change/", form).status_code == 302
    corp.refresh_from_db()
    assert corp.domains() == ["example.com", "acme.test"]
    assert [(r.domain, r.organisation, r.role) for r in corp.membership_rules.all()] == [("acme.test", org, "member")]
    owner = {**form, "membership_rules-0-domain": "example.com", "membership_rules-0-role": "owner"}
    assert b"owners are chosen by people" in staff_client.post(f"/admin/sso/ssopolicy/{corp.pk}/change/", owner).content


@pytest.mark.parametrize(
    ("value", "verified"), [(True, True), ("true", True), ("TRUE", True), (False, False), ("false", False),
                            (1, False), ("yes", False), (None, False)],
)  # fmt: skip
def test_only_an_explicit_true_email_verified_counts(value: Any, verified: bool) -> None:
    assert email_verified_claim({"email_verified": value}) is verified
    assert email_verified_claim({}) is False


def test_a_subdomain_is_not_the_allowed_domain(corp: SsoPolicy) -> None:
    assert corp.allows("ann@EXAMPLE.com")
    assert not corp.allows("ann@evil.example.com") and not corp.allows("ann@example.com.evil.test")


def _id_token(key: Any, alg: str, **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": "portico", "sub": "42", "iat": now, "exp": now + 300, **overrides}
    return jwt.encode({"alg": alg, "kid": key.kid}, claims, key)


def test_id_tokens_need_the_providers_signature_issuer_audience_and_time() -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    jwks = KeySet([key]).as_dict(private=False)
    check = {"jwks": jwks, "issuer": ISSUER, "audience": "portico"}
    assert oidc.id_token_verify(_id_token(key, "RS256"), **check)["sub"] == "42"
    other = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    bad = [
        _id_token(other, "RS256"),  # signed by someone else under the same kid
        _id_token(key, "RS256", iss="https://evil.example"),
        _id_token(key, "RS256", aud="someone-else"),
        _id_token(key, "RS256", exp=int(time.time()) - 3600),
    ]
    for token in bad:
        with pytest.raises(OAuth2Error):
            oidc.id_token_verify(token, **check)


def test_an_id_token_signed_with_a_shared_secret_is_refused_even_if_the_key_set_holds_it() -> None:
    secret = OctKey.import_key("s" * 32, parameters={"kid": "k1"})
    jwks = KeySet([secret]).as_dict(private=True)
    with pytest.raises(OAuth2Error):
        oidc.id_token_verify(_id_token(secret, "HS256"), jwks=jwks, issuer=ISSUER, audience="portico")


def test_a_provider_whose_secret_cannot_be_decrypted_is_left_off_the_login_page(
    client: Client, corp: SsoPolicy, settings: Any
) -> None:
    settings.PORTICO_SECRETS_KEY = "another-key-than-the-one-that-sealed-it-" + "k" * 20
    page = client.get("/accounts/login/")
    assert page.status_code == 200 and "Corp SSO" not in page.content.decode()


def test_a_failed_or_cancelled_sign_in_says_so_and_leads_back_to_the_login_page(
    client: Client, corp: SsoPolicy
) -> None:
    page = client.get("/accounts/oidc/corp/login/callback/", {"error": "access_denied", "state": "forged"})
    html = page.content.decode()
    assert page.status_code == 401 and "Single sign-on failed" in html
    assert 'href="/accounts/login/"' in html


def test_the_social_account_pages_need_a_signed_in_person_or_a_pending_sign_in(client: Client, corp: SsoPolicy) -> None:
    assert client.get("/accounts/3rdparty/")["Location"].startswith("/accounts/login/")
    assert client.get("/accounts/3rdparty/signup/")["Location"].startswith("/accounts/login/")


def test_the_account_menu_links_to_connected_providers_only_when_there_are_some(alice_client: Client) -> None:
    assert 'href="/accounts/3rdparty/"' not in alice_client.get("/accounts/email/").content.decode()
    sso_provider_save(
        provider_id="corp",
        name="Corp SSO",
        server_url=ISSUER,
        client_id="portico",
        secret="s",
        allowed_domains=["example.com"],
    )
    page = alice_client.get("/accounts/3rdparty/").content.decode()
    assert '<a href="/accounts/3rdparty/" aria-current="page">Single sign-on</a>' in page


def test_a_provider_without_a_portico_policy_signs_in_no_one() -> None:
    with pytest.raises(SsoRefused, match="not set up yet"):
        sso_decide(policy=None, email="ann@example.com", email_verified=True)


def test_a_policy_without_domains_signs_in_no_one(corp: SsoPolicy) -> None:
    corp.allowed_domains = ""
    corp.save()
    with pytest.raises(SsoRefused, match="Addresses at example.com cannot sign in"):
        sso_decide(policy=corp, email="ann@example.com", email_verified=True)
