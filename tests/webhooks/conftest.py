from __future__ import annotations

from typing import Any

import pytest

from portal.models import Membership
from webhooks import services


@pytest.fixture
def owner(org: Any, alice: Any) -> Membership:
    return Membership.objects.get(organisation=org, user=alice)


@pytest.fixture
def make_endpoint(owner: Membership) -> Any:
    """Register an endpoint of alice's organisation for `url`; returns (endpoint, secret)."""

    def make(url: str, event_types: list[str] | None = None) -> Any:
        return services.endpoint_create(
            membership=owner, url=url, event_types=event_types or ["key.created", "key.revoked", "key.rotated"]
        )

    return make
