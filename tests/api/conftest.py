"""REST API fixtures on top of the shared cast: real sessions (CSRF enforced), token clients and a problem checker."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from keys.services import key_issue
from portal.models import Membership
from tests.support.problems import PROBLEM, assert_problem, token_client

__all__ = ["PROBLEM", "assert_problem", "token_client"]  # many API test modules import them from here


@pytest.fixture
def alice_session(alice: Any) -> APIClient:
    """Alice signed in through a real session: SessionAuthentication then enforces CSRF."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    return client


@pytest.fixture
def bob_membership(org: Any, bob: Any) -> Membership:
    return Membership.objects.get(organisation=org, user=bob)


@pytest.fixture
def test_key(application: Any, subscription: Any, alice: Any) -> tuple[Any, str]:
    return key_issue(actor=alice, application=application, name="Test key", environment="test")
