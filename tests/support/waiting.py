"""Polling until a process is up or a condition holds: the one wait loop of the tests and benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests


def wait_until(
    predicate: Callable[[], Any],
    timeout: float = 10.0,
    interval: float = 0.05,
    *,
    what: str = "condition",
    errors: tuple[type[BaseException], ...] = (OSError,),
) -> Any:
    """Poll predicate until it returns something truthy and return that; fail after timeout.

    An exception in `errors` counts as "not yet": by default OSError, which covers requests' errors
    (a server that does not listen yet).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except errors:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(interval)


def wait_http(url: str, timeout: float = 60.0) -> None:
    """Until url answers below 500: the server is up, whatever it thinks of the request."""
    wait_until(lambda: requests.get(url, timeout=2).status_code < 500, timeout, what=f"{url} answering")
