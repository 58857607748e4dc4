"""The platform's detectors: Luhn-checked cards, SSN and NINO formats, email addresses, named fields in URLs."""

from __future__ import annotations

import time

import pytest

from redaction.detectors import Rules, luhn_valid, mask_text, mask_url
from tests.redaction.cases import CASES, URLS

ADVERSARIAL = [
    "4" * 100_000,
    "4-" * 50_000,
    "1 " * 50_000,
    "a" * 100_000 + "@",
    ("a." * 50_000) + "@",
    "a@" + "b." * 50_000,
    "a@" + "b-" * 50_000,
    "AB12 " * 20_000,
    "123-45-" * 15_000,
    "%" * 100_000,
]
# Each pattern is linear; a backtracking one takes minutes on these (measured budget: ~0.1 s each here).
TIME_BOUND_SECONDS = 2.0


@pytest.mark.parametrize(("text", "detectors", "masked"), CASES)
def test_detectors_mask_what_they_should_and_nothing_else(text: str, detectors: tuple[str, ...], masked: str) -> None:
    rules = Rules(**dict.fromkeys(detectors, True))
    assert mask_text(text, rules) == masked


@pytest.mark.parametrize(("url", "names", "masked"), URLS)
def test_urls_lose_named_fields_and_detector_hits(url: str, names: tuple[str, ...], masked: str) -> None:
    rules = Rules(names=frozenset(names), cards=True, national_ids=True, emails=True)
    assert mask_url(url, rules) == masked


def test_luhn_accepts_card_numbers_and_refuses_their_neighbours() -> None:
    assert luhn_valid("4111111111111111") and luhn_valid("79927398713")
    assert not luhn_valid("4111111111111112") and not luhn_valid("79927398710")


@pytest.mark.parametrize("text", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_detectors_finish_quickly_on_adversarial_input(text: str) -> None:
    rules = Rules(names=frozenset({"ssn"}), cards=True, national_ids=True, emails=True)
    started = time.perf_counter()
    mask_text(text, rules)
    mask_url("/x/" + text + "?q=" + text, rules)
    assert time.perf_counter() - started < TIME_BOUND_SECONDS
