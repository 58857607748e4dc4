"""Object ids as clients send them."""

from __future__ import annotations

from typing import Any

from foundation.errors import NotFound

MAX_OBJECT_ID = 2**63 - 1  # the largest bigint primary key


def as_object_id(value: Any) -> int:
    """Ids come from URLs and JSON: anything that is not a positive integer simply does not exist."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise NotFound("Not found.") from None
    if number <= 0 or number > MAX_OBJECT_ID:
        raise NotFound("Not found.")
    return number
