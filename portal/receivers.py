"""Authentication events from Django and allauth, recorded in the audit trail.

Signals are the only hook these libraries offer for login/MFA events; the receivers just call the audit service,
and one records a TOTP activation as this session's second-factor step.
"""

from __future__ import annotations

from typing import Any

from allauth.account.signals import password_changed, password_reset, user_signed_up
from allauth.mfa.base.internal.flows import post_authentication
from allauth.mfa.models import Authenticator
from allauth.mfa.signals import authenticator_added, authenticator_removed, authenticator_reset
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from foundation.audit import audit_record


@receiver(user_signed_up)
def _signed_up(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(action="account.signed_up", actor=user)


@receiver(user_logged_in)
def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(action="account.login", actor=user)


@receiver(user_logged_out)
def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit_record(action="account.logout", actor=user)


@receiver(user_login_failed)
def _login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    # Django already masks the password in `credentials`; we keep only the identifier, as data.
    identifier = str(credentials.get("email") or credentials.get("username") or "")[:254]
    audit_record(action="account.login_failed", actor_label=identifier, data={"identifier": identifier})


@receiver(password_changed)
def _password_changed(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(action="account.password_changed", actor=user)


@receiver(password_reset)
def _password_reset(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(action="account.password_reset", actor=user)


@receiver(authenticator_added)
def _mfa_added(sender: Any, request: Any, user: Any, authenticator: Any, **kwargs: Any) -> None:
    audit_record(action="mfa.added", actor=user, data={"type": authenticator.type})
    if request is not None and authenticator.type == Authenticator.Type.TOTP:
        # Activation checked a code from the app: this session has just given its second factor, so the admin
        # (foundation.second_factor) needs no second code, which TOTP's replay guard would refuse for 30 s anyway.
        post_authentication(request, authenticator, reauthenticated=True)


@receiver(authenticator_removed)
def _mfa_removed(sender: Any, request: Any, user: Any, authenticator: Any, **kwargs: Any) -> None:
    audit_record(action="mfa.removed", actor=user, data={"type": authenticator.type})


@receiver(authenticator_reset)
def _mfa_reset(sender: Any, request: Any, user: Any, authenticator: Any, **kwargs: Any) -> None:
    audit_record(action="mfa.recovery_codes_regenerated", actor=user, data={"type": authenticator.type})
