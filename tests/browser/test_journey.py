"""A new developer's first hour, in Chromium against real processes: from sign-up to a revoked key.

Every step is checked (console errors, CSP violations, failed requests, axe-core, width at 1280 and 375 px)
and photographed in test-artifacts/browser/<test>/.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import requests
from playwright.sync_api import Page, expect

from tests.support.browser import Steps
from tests.support.browser_accounts import choose, sign_up_and_verify, unique_email
from tests.support.browser_stack import BrowserStack
from tests.support.waiting import wait_until


def tab_to(page: Page, label: str, most: int = 30) -> None:
    """Press Tab until the control named label has the focus (fails if it is not reachable by keyboard)."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.textContent.trim()") == label:
            return
    raise AssertionError(f"{label!r} cannot be reached with the Tab key")


def execute_get(page: Page) -> None:
    """Open the console's GET operation and send it."""
    operation = page.locator(".opblock-summary-get").first
    if not page.locator("button.execute").count():
        operation.click()
    page.locator("button.execute").click()


def test_a_new_developer_signs_up_calls_the_api_and_revokes_a_key(
    stack: BrowserStack, page: Page, steps: Steps
) -> None:
    email = unique_email("journey")
    sign_up_and_verify(page, steps, stack, email)

    # An application, from the Applications page
    page.get_by_role("link", name="Applications", exact=True).click()
    page.get_by_role("link", name="New application").first.click()
    steps.check("application-form")
    page.get_by_label("Name").fill("Weather dashboard")
    page.get_by_role("button", name="Create application").click()
    expect(page.get_by_role("heading", name="Weather dashboard")).to_be_visible()
    application_page = page.url
    steps.check("application-created")

    # The catalog: the Echo API on its free plan
    page.get_by_role("link", name="Catalog", exact=True).click()
    steps.check("catalog")
    page.get_by_role("link", name="Echo API").first.click()
    steps.check("api-page")
    choose(page.get_by_label("Application"), "Weather dashboard")
    choose(page.get_by_label("Plan"), "Free")
    page.locator("#subscribe").get_by_role("button", name="Subscribe").click()
    expect(page.get_by_text("Subscribed to Echo API on Free")).to_be_visible()
    steps.check("subscribed")

    # A key, made with the keyboard alone, shown once and copied with the Copy button
    page.get_by_role("link", name="New API key").first.click()
    steps.check("key-form")
    page.get_by_label("Name").focus()
    page.keyboard.type("Production server")
    tab_to(page, "Create API key")  # past every field of the form, as a keyboard user goes
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Your new API key")).to_be_visible()
    steps.check("key-revealed")
    secret = page.locator("#secret-value").inner_text().strip()
    assert re.fullmatch(r"ptc_live_[0-9A-Za-z]{49}", secret)
    page.locator('[data-copy="secret-value"]').click()
    expect(page.locator('[data-copy="secret-value"]')).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret

    # The first call, exactly as the page shows it, pasted into a shell
    for language, command in (("curl", ["bash", "-c"]), ("python", [sys.executable, "-c"]), ("js", ["node", "-e"])):
        snippet = page.locator(f"#snippet-echo-{language}").inner_text()
        ran = subprocess.run([*command, snippet], capture_output=True, text=True, timeout=30)
        answer = ran.stdout if language == "curl" else ran.stdout.removeprefix("200 ")  # the others print the status
        assert ran.returncode == 0 and json.loads(answer)["method"] == "GET", (language, ran)
    steps.check("first-call-made")

    # The same call from the try-it console, through the gateway (CORS), with the key held in the page
    page.goto(f"{stack.portal_url}/catalog/echo/")
    page.get_by_role("link", name="Try it").click()
    expect(page.locator(".opblock-summary-get").first).to_be_visible()
    steps.check("console")
    page.get_by_label("API key").fill("ptc_live_" + "0" * 49)
    with steps.expecting_refusals(re.escape(stack.gateway_url)):
        execute_get(page)
        expect(page.locator("#console-denial")).to_be_visible()
        expect(page.locator("#console-denial-title")).to_have_text("API key invalid")
        steps.check("console-refusal-explained")
    assert page.locator("#console-denial-link").get_attribute("href") == "/problems/invalid-key/"
    page.get_by_label("API key").fill(secret)
    page.locator("button.execute").click()
    expect(page.locator(".live-responses-table tbody .response-col_status").first).to_have_text("200")
    expect(page.locator("#console-denial")).to_be_hidden()
    steps.check("console-call")
    assert secret not in page.content().replace(page.get_by_label("API key").input_value(), "")

    # The calls appear on the usage page once the workers have collected the gateway's log
    page.goto(application_page)
    page.get_by_role("link", name="Usage").click()

    def call_counted() -> bool:
        page.reload(wait_until="networkidle")  # nothing left in flight for the next reload to abort
        return page.locator("#total-requests").inner_text().strip() not in ("", "0")

    wait_until(call_counted, timeout=30, interval=1, what="the call on the usage page")
    steps.check("usage")

    # Rotation with a grace period: both keys work until then
    page.go_back()
    page.locator("tr", has_text="Production server").get_by_role("link", name="Rotate").click()
    steps.check("rotate-form")
    page.get_by_label("In 1 hour").check()
    page.get_by_role("button", name="Rotate key").click()
    steps.check("rotated")
    successor = page.locator("#secret-value").inner_text().strip()
    gateway_url = f"{stack.gateway_url}/echo/anything"
    for key in (secret, successor):
        assert requests.get(gateway_url, headers={"X-API-Key": key}, timeout=5).status_code == 200

    # Revoking the old key: the gateway refuses it from then on
    page.get_by_role("link", name="I have stored it — done").click()
    old = page.locator("tr", has_text=secret[:16]).first
    old.get_by_role("link", name="Revoke").click()
    steps.check("revoke-confirm")
    page.get_by_role("button", name=re.compile("Revoke")).click()
    steps.check("revoked")
    wait_until(
        lambda: requests.get(gateway_url, headers={"X-API-Key": secret}, timeout=5).status_code == 401,
        timeout=5,
        what="the revoked key refused at the gateway",
    )
    assert requests.get(gateway_url, headers={"X-API-Key": successor}, timeout=5).status_code == 200


def test_long_unbroken_names_wrap_instead_of_widening_tables_and_pages(
    stack: BrowserStack, page: Page, steps: Steps
) -> None:
    sign_up_and_verify(page, steps, stack, unique_email("long"))
    page.get_by_role("link", name="Applications", exact=True).click()
    page.get_by_role("link", name="New application").first.click()
    page.get_by_label("Name").fill("A" * 100)
    page.get_by_role("button", name="Create application").click()
    steps.check("long-application-name-in-the-message")  # the check fails on any width over the window
    page.goto(f"{stack.portal_url}/catalog/echo/")
    choose(page.get_by_label("Application"), "AAAA")
    choose(page.get_by_label("Plan"), "Free")
    page.locator("#subscribe").get_by_role("button", name="Subscribe").click()
    for name in ("K" * 100, "nightly-reconciliation-job-for-the-accounting-export-v2"):
        page.get_by_role("link", name="New API key").first.click()
        page.get_by_label("Name").fill(name)
        page.get_by_role("button", name="Create API key").click()
        page.get_by_role("link", name="I have stored it — done").click()
    steps.check("keys-with-long-names")
    revoke = page.locator("tr", has_text="K" * 100).get_by_role("link", name="Revoke")
    expect(revoke).to_be_in_viewport()  # not pushed out of the table's box
