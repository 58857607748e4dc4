"""The error reference: every cause a gateway or the REST API answers has a page saying what to do."""

from __future__ import annotations

import re
from pathlib import Path

from django.test import Client

from portal.problem_pages import PROBLEM_PAGES

PROBLEM_LUA = Path(__file__).resolve().parents[2] / "gateway" / "lua" / "portico" / "problem.lua"


def _gateway_causes() -> dict[str, int]:
    return {
        cause: int(status) for cause, status in re.findall(r'\["([a-z-]+)"\] = \{ (\d{3}),', PROBLEM_LUA.read_text())
    }


def test_every_gateway_cause_has_a_page_with_its_status() -> None:
    causes = _gateway_causes()
    assert len(causes) > 10
    assert {slug: PROBLEM_PAGES[slug].status for slug in causes if slug in PROBLEM_PAGES} == causes


def test_every_rest_api_error_code_has_a_page() -> None:
    from foundation import errors

    codes = {
        cls.code.replace("_", "-")
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.ApplicationError) and cls is not errors.ApplicationError
    }
    assert codes <= set(PROBLEM_PAGES)


def test_the_pages_are_public_and_unknown_causes_are_404(client: Client) -> None:
    listing = client.get("/problems/").content.decode()
    assert 'href="/problems/quota-exceeded/"' in listing
    page = client.get("/problems/quota-exceeded/")
    assert page.status_code == 200 and "What to do" in page.content.decode()
    assert client.get("/problems/no-such-cause/").status_code == 404
