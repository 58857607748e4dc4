"""Security-suite fixtures on top of the shared cast and tests/support/api_fixtures.py."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient


@pytest.fixture
def alice_api(alice: Any) -> APIClient:
    """Alice as a signed-in person (what may do everything she may: access tokens cannot create tokens)."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_authenticate(user=alice)
    return client
