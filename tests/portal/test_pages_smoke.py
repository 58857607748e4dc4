"""The acceptance flow, as a browser drives it: sign up, verify, log in, build an app, and manage its key."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from foundation.models import AuditEvent
from keys.models import ApiKey
from tests.portal.pages_helpers import PASSWORD, log_in, secrets_in, text, unique_email


def _location_id(response: Any, pattern: str) -> int:
    match = re.search(pattern, response["Location"])
    assert match, response["Location"]
    return int(match.group(1))


@pytest.mark.smoke
def test_a_new_developer_signs_up_and_manages_a_key_from_creation_to_revocation(
    db: Any, free_plan: Any, mailoutbox: list
) -> None:
    email = unique_email("newdev")
    visitor = Client()

    # Sign up: mandatory verification, so nobody is logged in yet and an email goes out.
    response = visitor.post("/accounts/signup/", {"email": email, "password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/accounts/confirm-email/"
    assert "Verify" in text(visitor.get(response["Location"]))
    assert log_in(Client(), email)["Location"] == "/accounts/confirm-email/"  # unverified: no session yet
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/[^\s]+/)", mailoutbox[-1].body).group(1)

    # Follow the link from the email and confirm.
    assert visitor.get(link).status_code == 200
    assert visitor.post(link).status_code == 302

    # Log in from a fresh browser.
    browser = Client()
    assert log_in(browser, email)["Location"] == "/"
    dashboard = browser.get("/")
    assert dashboard.status_code == 200 and "No applications yet" in text(dashboard)
    organisation_id = int(re.search(r"/orgs/(\d+)/applications/new/", text(dashboard)).group(1))

    # Create an application and subscribe it to the free plan.
    response = browser.post(f"/orgs/{organisation_id}/applications/new/", {"name": "Weather widget"})
    application_id = _location_id(response, r"^/applications/(\d+)/$")
    response = browser.post(f"/applications/{application_id}/subscribe/", {"plan": free_plan.pk}, follow=True)
    assert "Subscribed to Weather on Free" in text(response)

    # Create a key: it is revealed exactly once, never cached, and afterwards only masked.
    response = browser.post(
        f"/applications/{application_id}/keys/new/", {"name": "Backend", "environment": "live", "allowed_cidrs": ""}
    )
    key_id = _location_id(response, r"^/keys/(\d+)/reveal/$")
    first = browser.get(response["Location"])
    assert "no-store" in first["Cache-Control"]
    [secret] = set(secrets_in(first))
    second = browser.get(response["Location"])
    assert secrets_in(second) == [] and "can no longer be displayed" in text(second)
    key = ApiKey.objects.get(pk=key_id)
    detail = browser.get(f"/applications/{application_id}/")
    assert key.masked in text(detail) and secret not in text(detail)

    # Rotate with a one-hour grace period: the new key is revealed once, both are listed with their states.
    response = browser.post(f"/keys/{key_id}/rotate/", {"grace": "1h"})
    new_key_id = _location_id(response, r"^/keys/(\d+)/reveal/$")
    [new_secret] = set(secrets_in(browser.get(response["Location"])))
    assert new_secret != secret
    detail = text(browser.get(f"/applications/{application_id}/"))
    old_row = re.search(rf'<tr id="key-{key_id}">(.*?)</tr>', detail, re.S).group(1)
    new_row = re.search(rf'<tr id="key-{new_key_id}">(.*?)</tr>', detail, re.S).group(1)
    assert "grace" in old_row and "until" in old_row and "active" in new_row

    # Revoke the old key after a confirmation page.
    assert "Revoke Backend?" in text(browser.get(f"/keys/{key_id}/revoke/"))
    response = browser.post(f"/keys/{key_id}/revoke/", follow=True)
    assert "revoked" in text(response)
    assert ApiKey.objects.get(pk=key_id).state_at(key.created_at) == "revoked"
    assert ApiKey.objects.get(pk=new_key_id).status == ApiKey.Status.ACTIVE

    # The secrets were never stored in clear or written to the audit trail.
    for value in (secret, new_secret):
        assert not AuditEvent.objects.filter(data__icontains=value).exists()
        assert not ApiKey.objects.filter(name__contains=value).exists()


def test_pages_that_name_no_icon_get_the_portal_mark_instead_of_a_404(client: Client) -> None:
    """The admin names no icon, so browsers ask for /favicon.ico; a 404 there is a console error on every page."""
    from django.contrib.staticfiles import finders

    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith(".svg")
    assert finders.find(response["Location"].removeprefix("/static/"))
