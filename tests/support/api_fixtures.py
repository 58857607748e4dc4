"""Fixtures the REST API tests and the security suite share (a pytest plugin, registered in tests/conftest.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from certificates.models import ClientCertificate
from certificates.services import certificate_register
from keys.services import access_token_issue
from portal.models import Membership, Role
from portal.services.organisations import invitation_create
from tests.support.client_certs import make_client_cert
from tests.support.problems import token_client
from tests.support.request_log import log_request
from tests.support.webhooks import endpoint_with_delivery


def registered_certificate(application: Any) -> ClientCertificate:
    """A client certificate registered to `application` by its creator, through the service."""
    client = make_client_cert(Path(tempfile.mkdtemp(prefix="portico-cert-")), "registered")
    return certificate_register(actor=application.created_by, application=application, name="CI", pem=client.pem)


@pytest.fixture
def anonymous_api(db: Any) -> APIClient:
    return APIClient(enforce_csrf_checks=True)


@pytest.fixture
def alice_token(alice: Any) -> tuple[Any, str]:
    return access_token_issue(user=alice, name="CI")


@pytest.fixture
def alice_pat(alice_token: tuple[Any, str]) -> APIClient:
    return token_client(alice_token[1])


@pytest.fixture
def charlie_pat(charlie: Any, charlie_org: Any) -> APIClient:
    """Charlie, an outsider with his own organisation, calling with a real access token (no session)."""
    return token_client(access_token_issue(user=charlie, name="Charlie's CI")[1])


@pytest.fixture
def owner(org: Any, alice: Any) -> Membership:
    return Membership.objects.get(organisation=org, user=alice)


@pytest.fixture
def invitation(owner: Membership) -> Any:
    return invitation_create(membership=owner, email="dave@example.com", role=Role.MEMBER)


@pytest.fixture
def alices_things(
    org, owner, invitation, application, subscription, api_key, alice_token, oauth_client
) -> dict[str, Any]:
    """One id of each kind, all belonging to alice's organisation (or to alice herself)."""
    return {
        "organisation_id": org.pk,
        "member_id": owner.pk,
        "invitation_id": invitation.pk,
        "application_id": application.pk,
        "subscription_id": subscription.pk,
        "key_id": api_key[0].pk,
        "oauth_client_id": oauth_client[0].pk,
        "token_id": alice_token[0].pk,
        "request_id": log_request(subscription),
        "slug": "weather",
        **endpoint_with_delivery(owner),
        "certificate_id": registered_certificate(application).pk,
    }
