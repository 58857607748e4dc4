"""Email that follows a state change: sent only once the transaction that caused it has committed."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string


def send_after_commit(*, subject: str, template: str, context: dict[str, Any], to: list[str]) -> None:
    """Send a plain-text email once the transaction that caused it has committed (never for a rolled-back change)."""
    body = render_to_string(template, {"site_url": settings.PORTICO_SITE_URL, **context})
    # Names in subjects are single-line by validation, but a row older than the rule must not split a header
    # (Django would raise BadHeaderError after the commit): every line break, Unicode ones too, becomes a space.
    subject = " ".join((settings.ACCOUNT_EMAIL_SUBJECT_PREFIX + subject).splitlines())
    transaction.on_commit(lambda: send_mail(subject, body, None, to, fail_silently=False))
