"""Helpers for the portal page tests: driving allauth forms like a browser, and reading pages."""

from __future__ import annotations

import re
import uuid
from typing import Any

from allauth.account.models import EmailAddress
from django.test import Client

from tests.factories import UserFactory

PASSWORD = "correct-horse-battery-staple"
SECRET_RE = re.compile(r"ptc_(?:live|test|pat|cs)_[0-9A-Za-z]{49}")


def unique_email(prefix: str) -> str:
    """Rate-limit counters live in the real Redis cache across runs, so each test uses fresh addresses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def verified_user(email: str) -> Any:
    user = UserFactory(username=email.split("@")[0], email=email)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


def log_in(client: Client, email: str, password: str = PASSWORD) -> Any:
    """Submit the login form as a browser does; returns the response (302 on success)."""
    return client.post("/accounts/login/", {"login": email, "password": password})


def text(response: Any) -> str:
    return response.content.decode()


def secrets_in(response: Any) -> list[str]:
    return SECRET_RE.findall(text(response))


def htmx_get(client: Client, url: str, **extra: Any) -> Any:
    return client.get(url, HTTP_HX_REQUEST="true", **extra)


def htmx_post(client: Client, url: str, data: dict[str, Any] | None = None) -> Any:
    return client.post(url, data or {}, HTTP_HX_REQUEST="true")
