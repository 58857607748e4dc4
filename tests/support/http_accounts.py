"""A developer's account made over plain HTTP(S), as a browser would: the sign-up form, the emailed link and its
confirmation, then REST calls with that session (CSRF token and a same-origin Referer on writes).

For stacks of real processes whose mail goes to files (tests/support/production_stack.py and bench/portal/).
"""

from __future__ import annotations

import re
from email import message_from_string
from pathlib import Path
from typing import Any

import requests

from tests.support.waiting import wait_until

PASSWORD = "a-long-and-unusual-passphrase-42"
# The file email backend separates messages with a line of 79 dashes.
MESSAGE_SEPARATOR = "-" * 79 + "\n"


def confirmation_link(mail_dir: Path, site_url: str, address: str) -> str | None:
    """The verification link of the newest message the file backend wrote to address."""
    for path in sorted(mail_dir.glob("*.log"), key=lambda p: p.stat().st_mtime, reverse=True):
        for raw in reversed(path.read_text().split(MESSAGE_SEPARATOR)):
            message = message_from_string(raw)
            if address in message.get("To", ""):
                parts = [part for part in message.walk() if not part.is_multipart()]
                body = "".join(part.get_payload(decode=True).decode() for part in parts)
                found = re.search(rf"{re.escape(site_url)}/accounts/confirm-email/\S+", body)
                return found.group(0) if found else None
    return None


def sign_up(session: requests.Session, site_url: str, mail_dir: Path, email: str) -> requests.Response:
    """Sign up, open the emailed link and confirm it; the answer after being signed in."""
    signup = site_url + "/accounts/signup/"
    assert session.get(signup).status_code == 200
    form = {"email": email, "password1": PASSWORD, "password2": PASSWORD}
    sent = session.post(signup, data={**form, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
                        headers={"Referer": signup})  # fmt: skip
    assert sent.status_code == 200 and "/accounts/confirm-email/" in sent.url, sent.text[-2000:]
    link = wait_until(lambda: confirmation_link(mail_dir, site_url, email), 10, what="the verification email")
    assert session.get(link).status_code == 200
    return session.post(link, data={"csrfmiddlewaretoken": session.cookies["csrftoken"]}, headers={"Referer": link})


def api(session: requests.Session, site_url: str, method: str, path: str, body: Any = None) -> Any:
    """A REST call under /api/v1/ with the signed-in session; it must succeed (200 or 201). Its JSON."""
    headers = {"X-CSRFToken": session.cookies["csrftoken"], "Referer": site_url + "/"} if method != "GET" else {}
    answer = session.request(method, f"{site_url}/api/v1/{path}", json=body, headers=headers, timeout=15)
    assert answer.status_code in (200, 201), (method, path, answer.status_code, answer.text)
    return answer.json()
