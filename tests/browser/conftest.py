"""The browser suite: Debian's Chromium driven by Playwright against a whole Portico stack of real processes.

All browser tests share one stack and one Chromium, so they run in one xdist group (one worker).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, Steps
from tests.support.browser_stack import ADMIN_EMAIL, ADMIN_TOTP_SECRET, BrowserStack, browser_stack_env, totp_code
from tests.support.ports import free_port

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's chromium package: Playwright cannot download its own browsers here."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1280, "height": 900}}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, upstream: str) -> Iterator[BrowserStack]:
    """One running Portico for the whole browser suite (each test signs up its own people)."""
    tmp = tmp_path_factory.mktemp("browser-stack")
    server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portico").rsplit("/", 1)[0]
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    portal_port = free_port()
    stack = BrowserStack(tmp, browser_stack_env(tmp, portal_port, f"{server}/portico_browser_{worker}"), portal_port)
    try:
        yield stack.start(upstream)
    finally:
        stack.stop()


@pytest.fixture
def context(context: BrowserContext, stack: BrowserStack) -> BrowserContext:
    """pytest-playwright's fresh context, allowed to use the clipboard on the portal (the Copy buttons)."""
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.portal_url)
    return context


@pytest.fixture
def steps(page: Page, request: pytest.FixtureRequest) -> Steps:
    """Checks and screenshots for this test, in test-artifacts/browser/<test name>/."""
    return Steps(page, ARTIFACTS / request.node.name)


@pytest.fixture(scope="session")
def base_url(stack: BrowserStack) -> str:
    """Where relative page.goto() paths go: the stack's portal."""
    return stack.portal_url


@pytest.fixture(scope="session")
def admin_page(stack: BrowserStack, browser: Browser) -> Iterator[Page]:
    """A staff member signed in to the admin with password and authenticator code, once for the session (a
    code is accepted once, so every test reuses this sign-in)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=stack.portal_url)
    page = context.new_page()
    page.goto("/admin/")
    page.get_by_label("Email").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(stack.admin_password)
    page.get_by_role("button", name="Log in", exact=True).click()
    page.get_by_label("Code").fill(totp_code(ADMIN_TOTP_SECRET))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Platform")).to_be_visible()
    yield page
    context.close()
