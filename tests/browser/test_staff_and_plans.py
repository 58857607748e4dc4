"""Staff and developers together: a plan made in the admin that a developer subscribes to, a move to a plan that
needs approval (the current plan keeps serving until staff approve it), and the REST API's docs."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.support.browser import ARTIFACTS, Steps
from tests.support.browser_accounts import choose, sign_up_and_verify, unique_email
from tests.support.browser_stack import BrowserStack


def developer_with_an_application(page: Page, steps: Steps, stack: BrowserStack, name: str) -> str:
    """A new developer with an application; returns the application page's URL."""
    sign_up_and_verify(page, steps, stack, unique_email("plans"))
    page.get_by_role("link", name="Applications", exact=True).click()
    page.get_by_role("link", name="New application").first.click()
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create application").click()
    page.wait_for_url(re.compile(r"/applications/\d+/$"))
    page.wait_for_load_state("networkidle")  # a next goto would abort the page still loading (a failed request)
    return page.url


def test_a_plan_made_in_the_admin_is_offered_once_published_and_a_developer_subscribes(
    stack: BrowserStack, admin_page: Page, page: Page, steps: Steps
) -> None:
    staff = Steps(admin_page, ARTIFACTS / "staff-creates-a-plan")
    admin_page.goto("/admin/portal/plan/add/")
    staff.check("plan-form")
    choose(admin_page.get_by_label("Api"), "Echo API")
    admin_page.get_by_label("Name").fill("Gold")
    admin_page.get_by_label("Slug").fill("gold")
    admin_page.get_by_label("Rate per second:", exact=True).fill("20")
    admin_page.get_by_label("Rate per minute:", exact=True).fill("10")  # contradicts the per-second rate
    admin_page.get_by_label("Published").check()
    admin_page.get_by_role("button", name="Save", exact=True).click()
    expect(admin_page.get_by_text("is more than the 10 per minute allows")).to_be_visible()
    staff.check("plan-refused")
    admin_page.get_by_label("Rate per minute:", exact=True).fill("600")
    admin_page.get_by_role("button", name="Save", exact=True).click()
    expect(admin_page.get_by_text(re.compile("was added successfully"))).to_be_visible()
    staff.check("plan-saved")

    application = developer_with_an_application(page, steps, stack, "Gold rush")
    page.goto("/catalog/echo/")
    expect(page.get_by_role("columnheader", name=re.compile("Gold"))).to_be_visible()
    choose(page.get_by_label("Application"), "Gold rush")
    choose(page.get_by_label("Plan"), "Gold")
    page.locator("#subscribe").get_by_role("button", name="Subscribe").click()
    expect(page.get_by_text("Subscribed to Echo API on Gold")).to_be_visible()
    assert page.url.startswith(application)
    steps.check("subscribed-to-gold")


def test_a_move_to_a_plan_needing_approval_keeps_the_current_plan_until_staff_approve(
    stack: BrowserStack, admin_page: Page, page: Page, steps: Steps
) -> None:
    application = developer_with_an_application(page, steps, stack, "Climbing")
    page.goto("/catalog/echo/")
    choose(page.get_by_label("Application"), "Climbing")
    choose(page.get_by_label("Plan"), "Free")
    page.locator("#subscribe").get_by_role("button", name="Subscribe").click()
    expect(page.get_by_text("Subscribed to Echo API on Free")).to_be_visible()

    plan = page.get_by_label("Plan for Echo API")
    choose(plan, "Pro")
    page.get_by_role("button", name="Change").click()
    expect(page.get_by_text("Free keeps serving your traffic until then")).to_be_visible()
    expect(page.get_by_text(re.compile("Pro requested .*, waiting for approval"))).to_be_visible()
    steps.check("pro-requested")

    staff = Steps(admin_page, ARTIFACTS / "staff-approves-a-plan-change")
    admin_page.goto("/admin/portal/subscription/?awaiting=yes")
    staff.check("awaiting-decisions")
    admin_page.get_by_role("row", name=re.compile("Climbing")).get_by_role("checkbox").check()
    admin_page.get_by_label("Action:").select_option(label="Approve selected pending subscriptions and plan changes")
    admin_page.get_by_role("button", name="Go").click()
    expect(admin_page.get_by_text("Approved 1 item(s).")).to_be_visible()
    staff.check("approved")

    page.goto(application)
    expect(page.get_by_label("Plan for Echo API")).to_have_value(re.compile(r"\d+"))
    assert "Pro" in page.get_by_label("Plan for Echo API").locator("option:checked").inner_text()
    steps.check("on-pro")

    # Back to Free needs nobody's approval: it applies at once.
    choose(page.get_by_label("Plan for Echo API"), "Free")
    page.get_by_role("button", name="Change").click()
    expect(page.get_by_text("Echo API now uses Free.")).to_be_visible()
    steps.check("back-on-free")


def test_the_rest_api_docs_render_every_operation_under_the_strict_csp(
    stack: BrowserStack, page: Page, steps: Steps
) -> None:
    sign_up_and_verify(page, steps, stack, unique_email("docs"))
    page.goto("/api/docs/")
    expect(page.locator(".opblock").first).to_be_visible()
    assert page.locator(".opblock").count() >= 30
    expect(page.get_by_text("/api/v1/applications/", exact=True).first).to_be_visible()
    steps.check("api-docs")
