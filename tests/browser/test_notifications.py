"""Notification emails in the browser: a developer turns one kind off on the account page, then opens an email's
one-click unsubscribe link signed out, confirms, and sees that kind turned off on the page too."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.support.browser import Steps
from tests.support.browser_accounts import log_in, sign_up_and_verify, unique_email
from tests.support.browser_stack import BrowserStack

UNSUBSCRIBE_URL = """
from django.contrib.auth import get_user_model
from notifications.services.preferences import unsubscribe_url
print(unsubscribe_url(user_id=get_user_model().objects.get(email=EMAIL).pk, kind="quota"))
"""


def test_a_developer_turns_a_kind_off_and_unsubscribes_from_another_by_the_link(
    stack: BrowserStack, page: Page, steps: Steps
) -> None:
    email = unique_email("mails")
    sign_up_and_verify(page, steps, stack, email)
    page.goto(stack.portal_url + "/account/security/")
    page.get_by_role("link", name="Email notifications").click()
    expect(page.get_by_label("API key revoked or rotated by someone else")).to_be_checked()
    steps.check("preferences-all-on")

    page.get_by_label("API key revoked or rotated by someone else").uncheck()
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_text("Email preferences saved.")).to_be_visible()
    expect(page.get_by_label("API key revoked or rotated by someone else")).not_to_be_checked()
    steps.check("preferences-saved")

    link = stack.shell(UNSUBSCRIBE_URL, EMAIL=email).strip().splitlines()[-1]
    assert link.startswith(stack.portal_url + "/notifications/unsubscribe/")
    page.context.clear_cookies()  # opened from the mail client, signed out
    page.goto(link)
    expect(page.get_by_text("Stop receiving “Quota reached 80% or 100%” emails?")).to_be_visible()
    steps.check("unsubscribe-confirm")
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_text("you will no longer receive")).to_be_visible()
    steps.check("unsubscribed")

    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(stack.portal_url + "/account/notifications/")
    log_in(page, email)
    expect(page.get_by_label("Quota reached 80% or 100%")).not_to_be_checked()
    steps.check("preferences-narrow")
