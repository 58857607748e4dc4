"""What many browser tests do as a person would: make a unique account, sign up and verify it, log in, pick options.

Shared by the modules under tests/browser/ so no test module serves as another's library.
"""

from __future__ import annotations

import uuid

from playwright.sync_api import Locator, Page

from tests.support.browser import Steps
from tests.support.browser_stack import BrowserStack

PASSWORD = "a-long-and-unusual-passphrase-42"


def unique_email(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def sign_up_and_verify(page: Page, steps: Steps, stack: BrowserStack, email: str) -> None:
    """Sign up, open the verification link from the email file, confirm, and sign in."""
    page.goto(stack.portal_url + "/accounts/signup/")
    steps.check("sign-up")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    steps.check("verification-sent")
    page.goto(stack.link_in_last_mail_to(email, r"/accounts/confirm-email/[^\s]+"))
    steps.check("confirm-email")
    page.get_by_role("button", name="Confirm").click()
    if "/accounts/login/" in page.url:
        log_in(page, email)
    steps.check("signed-in")


def log_in(page: Page, email: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()


def choose(select: Locator, text: str) -> None:
    """Select the option whose label starts with (else contains) text: labels add the organisation or the price.

    Locator.all() does not wait, so first wait for such an option: right after a click that navigates,
    the select is not on the page yet and the list would be empty.
    """
    select.locator("option", has_text=text).first.wait_for(state="attached")
    labels = [option.inner_text() for option in select.locator("option").all()]
    starting = [label for label in labels if label.startswith(text)]
    select.select_option(label=(starting or [label for label in labels if text in label])[0])
