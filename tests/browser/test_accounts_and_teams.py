"""Accounts and teams in the browser: two-factor sign-in with a code and with a recovery code, and inviting a
colleague who signs up from the emailed link."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from tests.support.browser import ARTIFACTS, Steps
from tests.support.browser_accounts import PASSWORD, log_in, sign_up_and_verify, unique_email
from tests.support.browser_stack import BrowserStack, totp_code


def log_out(page: Page) -> None:
    """Through the account menu, as people do."""
    page.get_by_label("Account menu").click()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in").first).to_be_visible()


def test_two_factor_set_up_then_sign_in_with_a_code_and_with_a_recovery_code(
    stack: BrowserStack, page: Page, steps: Steps
) -> None:
    email = unique_email("mfa")
    sign_up_and_verify(page, steps, stack, email)
    page.goto("/accounts/2fa/totp/activate/")
    steps.check("totp-set-up")
    secret = page.locator("#authenticator_secret").inner_text().strip()
    page.get_by_label("Authenticator code").fill(totp_code(secret))
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_role("heading", name="Recovery codes")).to_be_visible()
    steps.check("recovery-codes")
    recovery_codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(recovery_codes) >= 8

    log_out(page)
    page.goto("/accounts/login/")
    log_in(page, email)
    expect(page.get_by_label("Code")).to_be_visible()  # the password alone is not enough now
    steps.check("asks-for-the-code")
    page.get_by_label("Code").fill(totp_code(secret))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name="Applications", exact=True)).to_be_visible()
    steps.check("signed-in-with-a-code")

    log_out(page)
    page.goto("/accounts/login/")
    log_in(page, email)
    page.get_by_label("Code").fill(recovery_codes[0].strip())
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name="Applications", exact=True)).to_be_visible()
    steps.check("signed-in-with-a-recovery-code")


def test_an_owner_invites_a_colleague_who_signs_up_from_the_link_and_joins(
    stack: BrowserStack, browser: Browser, page: Page, steps: Steps
) -> None:
    owner, colleague = unique_email("owner"), unique_email("colleague")
    sign_up_and_verify(page, steps, stack, owner)
    page.get_by_role("link", name="Members", exact=True).click()
    steps.check("members")
    page.get_by_label("Email").fill(colleague)
    page.get_by_label("Role", exact=True).select_option("member")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text(f"Invitation sent to {colleague} as member.")).to_be_visible()
    steps.check("invited")
    link = stack.link_in_last_mail_to(colleague, r"/invitations/[^\s]+/")

    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=stack.portal_url)
    theirs = context.new_page()
    their_steps = Steps(theirs, ARTIFACTS / "colleague")
    theirs.goto(link)
    their_steps.check("invitation")
    theirs.get_by_role("link", name="Create an account").click()
    expect(theirs.get_by_label("Email")).to_have_value(colleague)  # pre-filled from the invitation
    their_steps.check("sign-up-pre-filled")
    theirs.get_by_label("Password", exact=True).fill(PASSWORD)
    theirs.get_by_label("Password (again)").fill(PASSWORD)
    theirs.get_by_role("button", name="Create account").click()
    theirs.goto(link)  # the link already proved the address: no verification email to wait for
    theirs.get_by_role("button", name="Accept invitation").click()
    expect(theirs.get_by_text("You joined as member.")).to_be_visible()
    their_steps.check("joined")
    context.close()
