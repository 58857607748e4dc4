"""Driving the portal in Chromium the way a user meets it: each step is checked and photographed.

A step fails on any console error (CSP violations are console errors in Chromium), uncaught page error,
failed request or unexpected 4xx/5xx answer, on a serious or critical axe-core finding, and on a page wider
than the window at 1280 px or at 375 px.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import ConsoleMessage, Page, Request, Response

from tests.support.processes import REPO

ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"
# As the probe of this machine starts Chromium: no sandbox as root, and nothing that phones home.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
WIDTHS = (1280, 375)
BLOCKING_IMPACTS = {"serious", "critical"}
_axe = Axe()


@dataclass
class Steps:
    """Watches a page for errors between checks; `check(name)` fails on anything seen since the last one."""

    page: Page
    folder: Path
    problems: list[str] = field(default_factory=list)
    expected_refusals: list[re.Pattern[str]] = field(default_factory=list)
    count: int = 0

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("requestfailed", self._request_failed)
        self.page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        where = message.location.get("url", "") if message.location else ""
        if message.type == "error" and not (self._expected(message.text) or (where and self._expected(where))):
            self.problems.append(f"console error: {message.text} (at {where or 'the page'})")

    def _request_failed(self, request: Request) -> None:
        # ERR_ABORTED is the browser cancelling a request because the test moved on (a click or goto while the
        # page still loaded its icon): no page or server fault. Refusals, resets and CSP blocks fail otherwise.
        if request.failure == "net::ERR_ABORTED":
            return
        if not self._expected(request.url):
            self.problems.append(f"request failed: {request.method} {request.url} ({request.failure})")

    def _response(self, response: Response) -> None:
        if response.status >= 400 and not self._expected(response.url):
            self.problems.append(f"answer {response.status}: {response.request.method} {response.url}")

    def _expected(self, text: str) -> bool:
        return any(pattern.search(text) for pattern in self.expected_refusals)

    @contextmanager
    def expecting_refusals(self, pattern: str) -> Iterator[None]:
        """Within this block, 4xx answers (and their console lines) from URLs matching pattern are the point."""
        compiled = re.compile(pattern)
        self.expected_refusals.append(compiled)
        try:
            yield
        finally:
            self.expected_refusals.remove(compiled)

    def check(self, name: str) -> None:
        """Photograph the page and fail on errors, accessibility findings or horizontal scrolling."""
        self.page.wait_for_load_state("networkidle")
        self.count += 1
        # caret="initial": hiding the caret makes Playwright inject a <style>, which the strict CSP refuses
        self.page.screenshot(path=self.folder / f"{self.count:02d}-{name}.png", full_page=True, caret="initial")
        seen, self.problems = self.problems, []
        # axe-core itself may trip the CSP while it measures (it is our tool, not the page's code): what it causes
        # is not held against the page.
        findings = [
            f"{v['impact']}: {v['id']} ({len(v['nodes'])}×) {v['help']}: {v['nodes'][0]['target']} "
            f"{v['nodes'][0]['html'][:200]} {v['nodes'][0].get('failureSummary', '')[:300]}"
            for v in _axe.run(self.page).response["violations"]
            if v["impact"] in BLOCKING_IMPACTS
        ]
        too_wide = self._too_wide()
        self.problems = []
        assert not (seen or findings or too_wide), f"step {name} at {self.page.url}: {seen + findings + too_wide}"

    def _too_wide(self) -> list[str]:
        size = self.page.viewport_size
        assert size is not None
        found = []
        for width in WIDTHS:
            self.page.set_viewport_size({"width": width, "height": size["height"]})
            scroll = self.page.evaluate("document.documentElement.scrollWidth")
            if scroll > width:
                found.append(f"{scroll} px wide at {width} px")
        self.page.set_viewport_size(size)
        return found
