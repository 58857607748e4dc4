"""Whether this session, not just this account, passed the second factor, and how long ago.

allauth records every authentication step of a session (password, then "mfa" at sign-in, and again at each
reauthentication). A user who *has* TOTP may still hold a session that never used it (one from before TOTP
was set up, or a half-finished sign-in), so the admin and sensitive actions look at these records.
"""

from __future__ import annotations

import time

from allauth.account.authentication import get_authentication_records
from django.http import HttpRequest

SECOND_FACTOR = "mfa"


def passed_second_factor(request: HttpRequest, *, within: float) -> bool:
    """True when this session's user gave their second factor less than `within` seconds ago."""
    user = request.user
    if not user.is_authenticated:
        return False
    records = get_authentication_records(request, user)  # only this user's: allauth drops another user's
    times = [r.get("at", 0.0) for r in records if r.get("method") == SECOND_FACTOR]
    return bool(times) and time.time() - max(times) < within
