"""The request log in Chromium against real processes: traffic through the gateway, filtered, found by its id.

Every step is checked (console errors, CSP violations, failed requests, axe-core, width at 1280 and 375 px)
and photographed in test-artifacts/browser/<test>/.
"""

from __future__ import annotations

import re

import requests
from playwright.sync_api import Page, expect

from tests.support.browser import Steps
from tests.support.browser_accounts import choose, sign_up_and_verify, unique_email
from tests.support.browser_stack import BrowserStack
from tests.support.waiting import wait_until

MAX_TRIES = 30  # requests sent to pass a 5-per-second rate limit


def test_a_developer_finds_a_refused_request_by_the_id_in_its_answer(
    stack: BrowserStack, page: Page, steps: Steps
) -> None:
    sign_up_and_verify(page, steps, stack, unique_email("reqlog"))
    page.get_by_role("link", name="Applications", exact=True).click()
    page.get_by_role("link", name="New application").first.click()
    page.get_by_label("Name").fill("Log reader")
    page.get_by_role("button", name="Create application").click()
    page.get_by_role("link", name="Catalog", exact=True).click()
    page.get_by_role("link", name="Echo API").first.click()
    choose(page.get_by_label("Application"), "Log reader")
    choose(page.get_by_label("Plan"), "Free")
    page.locator("#subscribe").get_by_role("button", name="Subscribe").click()
    page.get_by_role("link", name="New API key").first.click()
    page.get_by_label("Name").fill("Log key")
    page.get_by_role("button", name="Create API key").click()
    secret = page.locator("#secret-value").inner_text().strip()

    # Traffic: admitted calls (one with a query string and a formula-like path), then past the Free plan's
    # 5 requests a second until one is refused
    echo = f"{stack.gateway_url}/echo"
    with requests.Session() as session:
        session.headers["X-API-Key"] = secret
        assert session.get(f"{echo}/=cmd|calc?token=hush", timeout=5).status_code == 200
        for n in range(MAX_TRIES):
            refused = session.get(f"{echo}/items/{n}", timeout=5)
            if refused.status_code == 429:
                break
    assert refused.status_code == 429, refused.text
    request_id = refused.json()["request_id"]

    page.get_by_role("link", name="Applications", exact=True).click()
    page.get_by_role("link", name="Log reader").first.click()
    page.get_by_role("link", name="Request log").click()
    expect(page.get_by_role("heading", name="Request log", level=1)).to_be_visible()

    def collected() -> bool:
        page.reload(wait_until="networkidle")
        return page.locator(".request-row").count() >= 3

    wait_until(collected, timeout=30, interval=1, what="the requests in the request log")
    expect(page.locator("#retention")).to_contain_text("kept for 30 days")
    assert "hush" not in page.content()
    steps.check("request-log")

    # Filter: 4xx answers only, by the filter form
    choose(page.get_by_label("Status class"), "4xx")
    page.get_by_role("button", name="Apply filter").click()
    expect(page.locator(".request-row").first).to_be_visible()
    assert set(page.locator(".denial-cause").all_inner_texts()) == {"rate-limited"}
    assert "status_class=4" in page.url
    href = page.locator("#download-csv").get_attribute("href") or ""
    assert href.endswith("requests.csv?" + page.url.split("?", 1)[1])
    steps.check("request-log-filtered")

    # Bad input re-renders the form with a message
    page.get_by_label("Client IP").fill("not-an-address")
    page.get_by_role("button", name="Apply filter").click()
    expect(page.locator(".error-text")).to_contain_text(re.compile("IP", re.I))
    steps.check("request-log-bad-filter")

    # The request id from the refusal's problem body finds it
    page.get_by_label("Find a request by its id").fill(request_id)
    page.get_by_role("button", name="Find").click()
    expect(page.locator(".request-row")).to_have_count(1)
    expect(page.locator(".request-id")).to_have_text(request_id)
    steps.check("request-found")
