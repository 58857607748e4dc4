"""A whole private Portico stack for fault tests: its own PostgreSQL, Redis, portal, Celery worker and gateway.

Everything runs as real processes on free loopback ports (tests/support/private_stack.py), so a test may stop
or kill any part of it without touching the machine's shared services or other tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.private_stack import Stack, running_stack


@pytest.fixture
def stack(tmp_path: Path, upstream: str) -> Iterator[Stack]:
    with running_stack(tmp_path, upstream) as stack:
        yield stack
