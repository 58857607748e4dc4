"""Account pages (allauth, restyled): brute force, sessions, enumeration, MFA set-up and the security page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import time_machine
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client
from django.utils import timezone

from foundation.models import AuditEvent
from keys.services import access_token_issue
from tests.portal.pages_helpers import PASSWORD, log_in, text, unique_email, verified_user

INVALID_LOGIN = "The email address and/or password you specified are not correct."
TOO_MANY = "Too many failed login attempts. Try again later."


def _form_errors(response: Any) -> list[str]:
    return list(response.context["form"].non_field_errors())


def test_the_sixth_login_after_five_failures_is_refused_while_another_user_still_logs_in(db: Any) -> None:
    victim = verified_user(unique_email("victim"))
    attacker = Client()
    for _ in range(5):
        response = log_in(attacker, victim.email, "wrong-password")
        assert response.status_code == 200 and _form_errors(response) == [INVALID_LOGIN]
    refused = log_in(attacker, victim.email, PASSWORD)  # even the right password is refused now
    assert refused.status_code == 200 and TOO_MANY in text(refused)
    assert "_auth_user_id" not in attacker.session
    bystander = verified_user(unique_email("bystander"))
    assert log_in(Client(), bystander.email)["Location"] == "/"
    assert AuditEvent.objects.filter(action="account.login_failed", actor_label=victim.email).count() >= 5


def test_the_session_key_changes_at_login(db: Any) -> None:
    user = verified_user(unique_email("fixation"))
    client = Client()
    planted = client.session  # an attacker-chosen session, already in the victim's cookie jar
    planted["probe"] = "x"
    planted.save()
    assert log_in(client, user.email)["Location"] == "/"
    new_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert new_key != planted.session_key
    assert not SessionStore().exists(planted.session_key)


def test_logging_out_kills_the_old_session_cookie(db: Any) -> None:
    user = verified_user(unique_email("logout"))
    client = Client()
    log_in(client, user.email)
    old_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert client.get("/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = old_key
    response = replay.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not SessionStore().exists(old_key)


def test_the_login_page_answers_the_same_for_unknown_and_known_emails(db: Any) -> None:
    known = verified_user(unique_email("known"))
    for_known = log_in(Client(), known.email, "wrong-password")
    for_unknown = log_in(Client(), unique_email("nobody"), "wrong-password")
    assert for_known.status_code == for_unknown.status_code == 200
    assert _form_errors(for_known) == _form_errors(for_unknown) == [INVALID_LOGIN]
    assert text(for_known).count("error-text") == text(for_unknown).count(
        "error-text"
    )  # same page shape, field by field


def test_password_reset_answers_the_same_for_unknown_and_known_emails(db: Any, mailoutbox: list) -> None:
    known = verified_user(unique_email("reset"))
    for_known = Client().post("/accounts/password/reset/", {"email": known.email})
    for_unknown = Client().post("/accounts/password/reset/", {"email": unique_email("nobody")})
    assert for_known.status_code == for_unknown.status_code == 302
    assert for_known["Location"] == for_unknown["Location"]
    assert "reset" in text(Client().get(for_known["Location"])).lower()


def test_signing_up_with_a_taken_email_looks_like_a_normal_sign_up(db: Any) -> None:
    taken = verified_user(unique_email("taken"))
    fresh = Client().post(
        "/accounts/signup/", {"email": unique_email("fresh"), "password1": PASSWORD, "password2": PASSWORD}
    )
    again = Client().post("/accounts/signup/", {"email": taken.email, "password1": PASSWORD, "password2": PASSWORD})
    assert fresh.status_code == again.status_code == 302
    assert fresh["Location"] == again["Location"]


def test_the_signup_form_re_renders_with_errors_on_a_weak_password(db: Any) -> None:
    response = Client().post("/accounts/signup/", {"email": "not-an-email", "password1": "123", "password2": "456"})
    assert response.status_code == 200
    page = text(response)
    assert "Enter a valid email address." in page and 'class="error-text"' in page


def test_account_pages_use_the_portal_layout_and_keep_the_csp(alice_client: Client) -> None:
    for url in ["/accounts/email/", "/accounts/password/change/", "/accounts/2fa/", "/account/security/"]:
        response = alice_client.get(url)
        assert response.status_code == 200, url
        assert 'class="sidenav"' in text(response) and "portico.css" in text(response)
        assert "script-src 'self'" in response["Content-Security-Policy"]
    anonymous = Client()
    for url in ["/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"]:
        response = anonymous.get(url)
        assert response.status_code == 200 and 'class="entrance-card"' in text(response), url


def test_totp_set_up_shows_the_qr_code_as_a_data_uri_the_csp_allows(alice: Any) -> None:
    client = Client()
    log_in(client, alice.email)
    # Right after signing in the password is not asked again; later, MFA changes ask for it on our styled page.
    assert client.get("/accounts/2fa/totp/activate/").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        response = client.get("/accounts/2fa/totp/activate/")
        assert response.status_code == 302 and response["Location"].startswith("/accounts/reauthenticate/")
        assert 'class="entrance-card"' in text(client.get(response["Location"]))
        client.post("/accounts/reauthenticate/", {"password": PASSWORD})
        response = client.get("/accounts/2fa/totp/activate/")
    assert response.status_code == 200
    assert '<img class="qr" src="data:image/svg+xml;base64,' in text(response)
    assert "data:" in response["Content-Security-Policy"].split("img-src")[1].split(";")[0]
    wrong = client.post("/accounts/2fa/totp/activate/", {"code": "000000"})
    assert wrong.status_code == 200 and "error-text" in text(wrong)


def test_the_security_page_summarises_two_factor_tokens_and_recent_sign_ins(alice: Any) -> None:
    client = Client()
    log_in(client, alice.email)
    access_token_issue(user=alice, name="CI")
    page = text(client.get("/account/security/"))
    assert "Set up an authenticator app" in page
    assert "1 active token" in page
    assert "account.login" in page


def test_a_password_change_ends_the_other_sessions_and_tells_the_account(alice: Any, mailoutbox: list) -> None:
    laptop, phone = Client(), Client()
    log_in(laptop, alice.email)
    log_in(phone, alice.email)
    new = "an-entirely-new-passphrase-77"
    changed = laptop.post("/accounts/password/change/", {"oldpassword": PASSWORD, "password1": new, "password2": new})
    assert changed.status_code == 302
    assert laptop.get("/").status_code == 200  # the session that changed it stays signed in
    assert phone.get("/")["Location"].startswith("/accounts/login/")  # every other one is over
    assert any(alice.email in message.to and "password" in message.subject.lower() for message in mailoutbox)


def test_an_email_change_is_told_to_the_old_address(alice: Any, mailoutbox: list) -> None:
    from allauth.account.models import EmailAddress

    client = Client()
    log_in(client, alice.email)
    EmailAddress.objects.create(user=alice, email="alice.new@example.com", verified=True, primary=False)
    client.post("/accounts/email/", {"action_primary": "", "email": "alice.new@example.com"})
    alice.refresh_from_db()
    assert alice.email == "alice.new@example.com"
    assert any(message.to == ["alice@example.com"] for message in mailoutbox)  # the old address hears of it
