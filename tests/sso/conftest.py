"""A real OpenID Connect provider (tests/support/oidc_provider) for the portal that pytest-django's live_server runs,
and the portal configured to trust it for acme.test, whose people join Acme as admins."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from portal.models import Organisation, Role
from sso.models import SsoPolicy
from sso.services import sso_membership_rule_save, sso_provider_save
from tests.support.oidc_server import OidcProvider

PROVIDER_ID = "corp"


@pytest.fixture(scope="session")
def oidc_provider(live_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    provider = OidcProvider(tmp_path_factory.mktemp("oidc-provider"))
    provider.start(f"{live_server.url}/accounts/oidc/{PROVIDER_ID}/login/callback/")
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture
def acme(transactional_db: Any) -> Organisation:
    return Organisation.objects.create(name="Acme")


@pytest.fixture
def sso_policy(oidc_provider: OidcProvider, acme: Organisation) -> SsoPolicy:
    policy = sso_provider_save(
        provider_id=PROVIDER_ID,
        name="Corp SSO",
        server_url=oidc_provider.issuer,
        client_id=oidc_provider.client_id,
        secret=oidc_provider.client_secret,
        allowed_domains=["acme.test"],
    )
    sso_membership_rule_save(policy=policy, domain="acme.test", organisation=acme, role=Role.ADMIN)
    return policy
