"""The fixed-window counters behind the OAuth endpoints' throttles, on the real Redis cache."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from foundation import ratelimit


@pytest.mark.parametrize(("text", "limit", "seconds"), [("60/m", 60, 60), ("20/5m", 20, 300), ("1/d", 1, 86400)])
def test_rates_use_the_login_limits_notation(text, limit, seconds) -> None:
    assert ratelimit.Rate.parse(text) == ratelimit.Rate(limit, seconds)


@pytest.mark.parametrize("text", ["0/m", "20/0m", "60", "60/minute", "-1/m", ""])
def test_a_malformed_rate_is_a_configuration_error(text) -> None:
    with pytest.raises(ImproperlyConfigured):
        ratelimit.Rate.parse(text)


def test_the_limit_holds_within_a_window_and_resets_with_the_next() -> None:
    rate, ident = ratelimit.Rate(2, 60), secrets.token_hex(8)
    start = timezone.now().replace(second=5, microsecond=0)
    with time_machine.travel(start, tick=False):
        assert [ratelimit.hit("test", ident, rate) for _ in range(2)] == [0, 0]
        assert ratelimit.exhausted("test", ident, rate) == 55
        assert ratelimit.hit("test", ident, rate) == 55  # Retry-After: the rest of the window
    with time_machine.travel(start + timedelta(seconds=60), tick=False):
        assert ratelimit.exhausted("test", ident, rate) == 0 and ratelimit.hit("test", ident, rate) == 0
