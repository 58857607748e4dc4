"""Usage pages in Chromium against real processes, filled by `seed_demo_usage`: usage by key and by endpoint, the
outcome and latency charts, the organisation's usage and the staff overview. Every step is checked (console, CSP,
failed requests, axe, 1280 and 375 px) and photographed in test-artifacts/browser/<test>/."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.support.browser import ARTIFACTS, Steps
from tests.support.browser_accounts import choose, sign_up_and_verify, unique_email
from tests.support.browser_stack import BrowserStack

# A million requests of one demo key in the current hour, as ingest would count them, then a detection run.
SPIKE = """
from django.utils import timezone
from analytics.models import UsageRollup
from anomalies.services import anomalies_detect, hour_floor
from keys.models import ApiKey
key = ApiKey.objects.get(name="Nightly sync", application__organisation_id=ORGANISATION)
UsageRollup.objects.create(granularity="hour", bucket=hour_floor(timezone.now()), organisation_id=ORGANISATION,
    application_id=key.application_id, key_id=key.pk, api_id=0, status_class=2, requests=1000000)
print(len(anomalies_detect(now=timezone.now())))
"""


def test_a_developer_reads_usage_by_key_and_for_the_organisation_and_staff_read_the_overview(
    stack: BrowserStack, page: Page, admin_page: Page, steps: Steps
) -> None:
    sign_up_and_verify(page, steps, stack, unique_email("usage"))
    page.get_by_role("link", name="Applications", exact=True).click()
    page.get_by_role("link", name="New application").first.click()
    page.get_by_label("Name").fill("Storefront")
    page.get_by_role("button", name="Create application").click()
    page.wait_for_url(re.compile(r"/applications/\d+/$"))
    page.wait_for_load_state("networkidle")
    page.get_by_role("link", name="Catalog", exact=True).click()
    page.get_by_role("link", name="Echo API").first.click()
    choose(page.get_by_label("Application"), "Storefront")
    choose(page.get_by_label("Plan"), "Free")
    page.locator("#subscribe").get_by_role("button", name="Subscribe").click()
    page.wait_for_load_state("networkidle")
    page.get_by_role("link", name="Applications", exact=True).click()
    page.get_by_role("link", name="Usage of all applications").click()
    organisation_id = re.search(r"/orgs/(\d+)/usage/", page.url).group(1)  # type: ignore[union-attr]
    stack.manage("seed_demo_usage", "--organisation", organisation_id, "--weeks", "2")

    # The organisation's usage: totals, chart, a row per application
    page.reload(wait_until="networkidle")
    page.get_by_role("link", name="Last 30 days, by day").click()
    expect(page.get_by_role("heading", name="Organisation usage", level=1)).to_be_visible()
    expect(page.locator("#total-requests")).not_to_have_text("0")
    assert page.locator(".chart-bars rect").count() > 10
    steps.check("organisation-usage")

    # The application's usage by key, with a flag raised by detection over a spike of one key in this hour
    assert int(stack.shell(SPIKE, ORGANISATION=int(organisation_id)).strip().splitlines()[-1]) >= 1
    page.locator("#usage-by-application").get_by_role("link", name="Storefront").click()
    expect(page.get_by_role("heading", name="By key")).to_be_visible()
    assert page.locator("#usage-by-key tbody tr").count() == 3
    expect(page.locator("#anomaly-flags")).to_contain_text("Nightly sync")
    expect(page.locator("#anomaly-flags")).to_contain_text("1,000,000 requests")
    steps.check("usage-by-key")

    # By endpoint (the demo API's operations and "other"), outcomes and latency over time with their data tables
    endpoints = page.locator("#usage-by-endpoint")
    expect(endpoints.get_by_role("rowheader", name="GET /anything/orders/{order_id}")).to_be_visible()
    assert endpoints.locator("tbody tr").count() >= 6
    expect(endpoints.locator("tbody tr").last).to_contain_text("Other (matches no operation)")
    assert page.locator("#outcomes-chart .chart-bars rect").count() > 10
    assert page.locator("#latency-chart polyline").count() >= 3
    page.locator("#outcomes-data summary").click()
    expect(page.locator("#outcomes-data table")).to_be_visible()
    page.locator("#latency-data summary").click()
    expect(page.locator("#latency-data tbody tr").first).to_be_visible()
    endpoints.scroll_into_view_if_needed()
    steps.check("usage-by-endpoint")
    total = page.locator("#total-requests").inner_text()
    page.locator("#usage-by-key").get_by_role("link", name="Nightly sync").click()
    expect(page.locator("#key-filter")).to_contain_text("Nightly sync")
    assert page.locator("#total-requests").inner_text() != total
    steps.check("one-key")
    page.set_viewport_size({"width": 375, "height": 800})
    steps.check("one-key-narrow")

    # Staff: the overview, from the admin index
    staff = Steps(admin_page, ARTIFACTS / "staff-usage-overview")
    admin_page.goto("/admin/")
    admin_page.get_by_role("link", name="Usage overview").click()
    expect(admin_page.locator("#top-requests")).to_contain_text("Storefront")
    staff.check("overview")
    admin_page.locator("#ranges").get_by_role("link", name="Last 90 days").click()
    expect(admin_page.locator("#per-api")).to_contain_text("Echo API")
    staff.check("overview-90-days")
