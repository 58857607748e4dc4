"""Webhooks in the browser: an owner adds an endpoint on a real receiver, copies the secret shown once, sends a
test event through the real worker, and reads the delivery log; then sends it again."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from standardwebhooks.webhooks import Webhook

from tests.support.browser import Steps
from tests.support.browser_accounts import sign_up_and_verify, unique_email
from tests.support.browser_stack import BrowserStack
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import receiver


def test_an_owner_adds_an_endpoint_sends_a_test_event_and_reads_the_log(
    stack: BrowserStack, page: Page, steps: Steps
) -> None:
    sign_up_and_verify(page, steps, stack, unique_email("hooks"))
    page.get_by_role("link", name="Webhooks", exact=True).click()
    steps.check("no-endpoints")
    with receiver((204, {}, b"")) as hook:
        page.get_by_label("Endpoint URL").fill("https://169.254.169.254/latest/meta-data/")
        page.get_by_role("button", name="Add endpoint").click()
        expect(page.get_by_text("This address is internal")).to_be_visible()
        steps.check("internal-url-refused")

        page.get_by_label("Endpoint URL").fill(hook.url)
        page.get_by_label("Description").fill("Billing sync")
        page.get_by_role("button", name="Add endpoint").click()
        secret = page.locator("#secret-value").inner_text().strip()
        assert secret.startswith("whsec_")
        steps.check("secret-shown-once")

        page.get_by_role("button", name="Send test event").click()
        expect(page.get_by_text("Test event queued")).to_be_visible()
        wait_until(lambda: hook.received, timeout=30, what="the worker delivering the test event")
        Webhook(secret).verify(hook.received[0].body, hook.received[0].headers)
        page.reload()
        expect(page.get_by_text("HTTP 204")).to_be_visible()
        expect(page.locator("#secret-value")).to_have_count(0)  # shown once only
        steps.check("delivery-log")

        page.get_by_role("button", name="Send again").click()
        wait_until(lambda: len(hook.received) == 2, timeout=30, what="the event sent again")
        assert hook.received[1].headers["webhook-id"] == hook.received[0].headers["webhook-id"]
        page.reload()
        expect(page.locator("ul.attempts li")).to_have_count(2)
        steps.check("sent-again")

    page.get_by_role("link", name="Delete").click()
    page.get_by_role("button", name="Delete endpoint").click()
    expect(page.get_by_role("heading", name=re.compile("No endpoints yet"))).to_be_visible()
    steps.check("deleted")
