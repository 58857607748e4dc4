"""REST API fixtures on top of the shared cast: real sessions (CSRF enforced), token clients and a problem checker."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from keys.services import access_token_issue, key_issue
from portal.models import Membership, Role
from portal.services.organisations import invitation_create
from tests.support.problems import PROBLEM, assert_problem, token_client

__all__ = ["PROBLEM", "assert_problem", "token_client"]  # many API test modules import them from here


@pytest.fixture
def anonymous_api(db: Any) -> APIClient:
    return APIClient(enforce_csrf_checks=True)


@pytest.fixture
def alice_session(alice: Any) -> APIClient:
    """Alice signed in through a real session: SessionAuthentication then enforces CSRF."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    return client


@pytest.fixture
def alice_token(alice: Any) -> tuple[Any, str]:
    return access_token_issue(user=alice, name="CI")


@pytest.fixture
def alice_pat(alice_token: tuple[Any, str]) -> APIClient:
    return token_client(alice_token[1])


@pytest.fixture
def owner(org: Any, alice: Any) -> Membership:
    return Membership.objects.get(organisation=org, user=alice)


@pytest.fixture
def bob_membership(org: Any, bob: Any) -> Membership:
    return Membership.objects.get(organisation=org, user=bob)


@pytest.fixture
def invitation(owner: Membership) -> Any:
    return invitation_create(membership=owner, email="dave@example.com", role=Role.MEMBER)


@pytest.fixture
def test_key(application: Any, subscription: Any, alice: Any) -> tuple[Any, str]:
    return key_issue(actor=alice, application=application, name="Test key", environment="test")
