"""Signing a staff user in as the admin requires: password, then a TOTP code, through allauth's own forms.

`force_login` gives a session that never passed the second factor, and the admin rightly refuses it. Each call
gives the user a fresh random TOTP secret, so the code is never one TOTP's replay guard saw in the last 30 s.
"""

from __future__ import annotations

from typing import Any

from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.test import Client

from tests.factories import PASSWORD
from tests.support.browser_stack import totp_code


def give_totp(user: Any) -> str:
    """Set up (or replace) the user's authenticator app; returns its secret."""
    Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).delete()
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


def sign_in_with_totp(client: Client, user: Any, password: str = PASSWORD) -> Client:
    """Sign in through the login form and the TOTP step, as a browser would; the session records both steps."""
    secret = give_totp(user)
    login = client.post("/accounts/login/", {"login": user.email, "password": password})
    assert login.status_code == 302 and login["Location"].startswith("/accounts/2fa/authenticate/"), login
    step = client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    assert step.status_code == 302, step
    return client
