"""Fixed-window request counters in the shared cache (Redis), for endpoints that DRF's throttles do not cover.

One atomic INCR per request and one key per (scope, identity, window), expiring with its window, so every portal
process agrees and nothing grows. A fixed window lets a burst of up to twice the limit straddle a window boundary;
that is the accepted price of an O(1) counter (the REST throttles' sliding log costs a list per caller).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"^(?P<limit>[1-9]\d*)/(?P<count>(?:[1-9]\d*)?)(?P<unit>[smhd])$")


@dataclass(frozen=True)
class Rate:
    """At most `limit` events per `seconds`."""

    limit: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """`"60/m"`, `"20/5m"`, `"1000/h"`: the notation of the login limits (ACCOUNT_RATE_LIMITS)."""
        match = _RATE.match(text.strip())
        if match is None:
            raise ImproperlyConfigured(f"Not a rate: {text!r} (use e.g. 60/m or 20/5m).")
        return cls(int(match["limit"]), int(match["count"] or 1) * _UNITS[match["unit"]])


def _key(scope: str, ident: str, rate: Rate, now: float) -> tuple[str, int]:
    window = int(now // rate.seconds)
    retry_after = max(1, math.ceil((window + 1) * rate.seconds - now))
    return f"ratelimit:{scope}:{rate.seconds}:{ident}:{window}", retry_after


def hit(scope: str, ident: str, rate: Rate) -> int:
    """Count one event; 0 while within the rate, else the seconds until the window ends (for Retry-After)."""
    key, retry_after = _key(scope, ident, rate, time.time())
    cache.add(key, 0, timeout=rate.seconds + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # the window's key expired between add and incr
        cache.set(key, 1, timeout=rate.seconds + 1)
        count = 1
    return 0 if count <= rate.limit else retry_after


def exhausted(scope: str, ident: str, rate: Rate) -> int:
    """Without counting: 0 if another event is allowed now, else the seconds until the window ends."""
    key, retry_after = _key(scope, ident, rate, time.time())
    return retry_after if int(cache.get(key) or 0) >= rate.limit else 0
