"""OAuth clients in the browser: create one on the application page, copy the secret shown once, run the token
request the page shows against the real platform, rotate with a grace period, revoke."""

from __future__ import annotations

import base64
import json
import shlex
import urllib.parse
import urllib.request

from playwright.sync_api import Page, expect

from tests.support.browser import Steps
from tests.support.browser_accounts import choose, sign_up_and_verify, unique_email
from tests.support.browser_stack import BrowserStack


def _run_token_curl(curl: str) -> dict[str, object]:
    """What `curl -u id:secret -d … URL` does, done with urllib against the live platform."""
    words = shlex.split(curl)
    user = words[words.index("-u") + 1]
    fields = [words[i + 1] for i, word in enumerate(words) if word == "-d"]
    body = "&".join(urllib.parse.quote(f, safe="=") for f in fields).encode()
    request = urllib.request.Request(words[-1], data=body, method="POST")  # noqa: S310 (our own live server)
    request.add_header("Authorization", "Basic " + base64.b64encode(user.encode()).decode())
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return dict(json.loads(response.read()))


def test_a_developer_creates_an_oauth_client_gets_a_token_rotates_and_revokes(
    stack: BrowserStack, page: Page, steps: Steps
) -> None:
    sign_up_and_verify(page, steps, stack, unique_email("oauth"))
    page.get_by_role("link", name="Applications", exact=True).click()
    page.get_by_role("link", name="New application").first.click()
    page.get_by_label("Name").fill("Billing backend")
    page.get_by_role("button", name="Create application").click()
    application_page = page.url
    page.get_by_role("link", name="Catalog", exact=True).click()
    page.get_by_role("link", name="Echo API").first.click()
    choose(page.get_by_label("Application"), "Billing backend")
    choose(page.get_by_label("Plan"), "Free")
    page.locator("#subscribe").get_by_role("button", name="Subscribe").click()
    expect(page.get_by_text("Subscribed to Echo API on Free")).to_be_visible()

    page.goto(application_page)
    expect(page.get_by_role("heading", name="OAuth clients")).to_be_visible()
    steps.check("application-with-no-clients")
    page.get_by_role("link", name="New OAuth client").click()
    steps.check("client-form")
    page.get_by_role("button", name="Create OAuth client").click()
    expect(page.get_by_text("This field is required.")).to_be_visible()
    steps.check("client-form-error")
    page.get_by_label("Name").fill("Invoices worker")
    page.get_by_role("button", name="Create OAuth client").click()
    expect(page.get_by_role("heading", name="Your new client secret")).to_be_visible()
    steps.check("client-secret-revealed")
    secret = page.locator("#secret-value").inner_text().strip()
    curl = page.locator("#token-curl").inner_text().strip()
    assert secret.startswith("ptc_cs_") and secret in curl
    token = _run_token_curl(curl)
    assert token["token_type"] == "Bearer" and str(token["access_token"]).count(".") == 2

    page.get_by_role("link", name="I have stored it — done").click()
    row = page.locator("tr", has_text="Invoices worker")
    expect(row.get_by_text("active")).to_be_visible()
    steps.check("application-with-a-client")
    assert secret not in page.content()

    row.get_by_role("link", name="Rotate").click()
    steps.check("client-rotate-form")
    page.get_by_label("In 1 hour").check()
    page.get_by_role("button", name="Rotate secret").click()
    expect(page.get_by_role("heading", name="Your new client secret")).to_be_visible()
    new_secret = page.locator("#secret-value").inner_text().strip()
    assert new_secret != secret
    _run_token_curl(page.locator("#token-curl").inner_text().strip())
    page.get_by_role("link", name="I have stored it — done").click()
    expect(page.locator("tr", has_text="Invoices worker").get_by_text("grace")).to_be_visible()
    steps.check("client-in-grace")

    page.locator("tr", has_text="Invoices worker").get_by_role("link", name="Revoke").click()
    steps.check("client-revoke-confirm")
    page.get_by_role("button", name="Revoke client").click()
    expect(page.get_by_text("OAuth client Invoices worker revoked")).to_be_visible()
    steps.check("client-revoked")
