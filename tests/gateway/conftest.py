"""Fixtures for black-box tests of the edge gateway (tests/support runs the nginx processes): a fake platform.

The demo upstream and the gateway factory are in tests/conftest.py. Nothing here needs Django or a database.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_platform import Platform


@pytest.fixture
def platform() -> Iterator[Platform]:
    """A fake control plane on a free port."""
    p = Platform()
    yield p
    p.stop()
