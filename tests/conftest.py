"""The fixed cast: alice owns an organisation, bob is a member of it, charlie is an outsider with his own.

Also the real processes several test packages share: the demo upstream and a factory of gateways (tests/support).
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.conf import settings
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from keys.services import key_issue
from keys.services.clients import oauth_client_issue
from keys.services.signing import signing_key_current, signing_key_prepare
from portal.models import Role
from portal.services.applications import subscription_create
from tests.factories import ApiFactory, ApplicationFactory, MembershipFactory, PlanFactory, UserFactory
from tests.support.audit_flush import flush_past_the_audit_trigger
from tests.support.gateway import Gateway, start_upstream
from tests.support.mfa import sign_in_with_totp
from tests.support.ports import free_port

PASSWORD = "correct-horse-battery-staple"

pytest_plugins = ["tests.support.api_fixtures"]  # fixtures the API tests and the security suite share


@pytest.fixture(scope="session", autouse=True)
def _audit_trail_flushable() -> Iterator[None]:
    """Transactional tests end with a TRUNCATE, which the audit trail's trigger refuses (tests/support/audit_flush)."""
    with flush_past_the_audit_trigger():
        yield


def _verified_user(username: str) -> Any:
    user = UserFactory(username=username, email=f"{username}@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


@pytest.fixture
def alice(db: Any) -> Any:
    return _verified_user("alice")


@pytest.fixture
def bob(db: Any) -> Any:
    return _verified_user("bob")


@pytest.fixture
def charlie(db: Any) -> Any:
    return _verified_user("charlie")


@pytest.fixture
def org(alice: Any, bob: Any) -> Any:
    """Alice's team organisation, with bob as a plain member."""
    membership = MembershipFactory(user=alice, role=Role.OWNER, organisation__name="Acme")
    MembershipFactory(user=bob, organisation=membership.organisation, role=Role.MEMBER)
    return membership.organisation


@pytest.fixture
def charlie_org(charlie: Any) -> Any:
    return MembershipFactory(user=charlie, role=Role.OWNER, organisation__name="Charlie Corp").organisation


@pytest.fixture
def api(db: Any) -> Any:
    return ApiFactory(name="Weather", slug="weather", path_prefix="/weather")


@pytest.fixture
def free_plan(api: Any) -> Any:
    return PlanFactory(api=api, name="Free", slug="free", display_order=1)


@pytest.fixture
def pro_plan(api: Any) -> Any:
    return PlanFactory(
        api=api,
        name="Pro",
        slug="pro",
        requires_approval=True,
        display_order=2,
        rate_per_second=100,
        quota_per_day=100000,
    )


@pytest.fixture
def application(org: Any, alice: Any) -> Any:
    return ApplicationFactory(organisation=org, name="Alice's app", created_by=alice)


@pytest.fixture
def subscription(application: Any, free_plan: Any, alice: Any) -> Any:
    return subscription_create(actor=alice, application=application, plan=free_plan)


@pytest.fixture
def charlie_application(charlie_org: Any, charlie: Any) -> Any:
    return ApplicationFactory(organisation=charlie_org, name="Charlie's app", created_by=charlie)


@pytest.fixture
def api_key(application: Any, subscription: Any, alice: Any) -> tuple[Any, str]:
    """An active key of alice's application and its one-time secret."""
    return key_issue(actor=alice, application=application, name="Server key")


@pytest.fixture
def signing_key(db: Any) -> Any:
    """A token signing key published long enough ago that gateways know it: what a running platform has."""
    published = timezone.now() - timedelta(seconds=settings.PORTICO_OAUTH_KEY_PUBLISH_SECONDS + 60)
    with time_machine.travel(published):
        signing_key_prepare()
    return signing_key_current()


@pytest.fixture
def oauth_client(application: Any, subscription: Any, alice: Any, signing_key: Any) -> tuple[Any, str]:
    """An OAuth client of alice's application (subscribed to `weather`) and its one-time secret."""
    return oauth_client_issue(actor=alice, application=application, name="Backend")


def _logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def staff(db: Any) -> Any:
    """A superuser who has not set up MFA yet (the admin sends them to TOTP set-up first)."""
    user = _verified_user("staffer")
    user.is_staff = user.is_superuser = True
    user.save()
    return user


@pytest.fixture
def staff_client(staff: Any) -> Client:
    """A staff session that may use the admin: signed in with password and a TOTP code."""
    return sign_in_with_totp(Client(), staff)


@pytest.fixture
def alice_client(alice: Any) -> Client:
    return _logged_in(alice)


@pytest.fixture
def bob_client(bob: Any) -> Client:
    return _logged_in(bob)


@pytest.fixture
def charlie_client(charlie: Any) -> Client:
    return _logged_in(charlie)


def _api_client(user: Any) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    client.force_authenticate(user=user)
    return client


@pytest.fixture
def alice_api(alice: Any) -> APIClient:
    return _api_client(alice)


@pytest.fixture
def bob_api(bob: Any) -> APIClient:
    return _api_client(bob)


@pytest.fixture
def charlie_api(charlie: Any) -> APIClient:
    return _api_client(charlie)


# --------------------------------------------------------------------------- real gateways (nginx processes)


@pytest.fixture(scope="session")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo echo upstream, shared by the whole session."""
    listen = f"127.0.0.1:{free_port()}"
    proc = start_upstream(listen, tmp_path_factory.mktemp("upstream") / "rt", workers=2)
    yield f"http://{listen}"
    proc.stop()


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[Callable[..., Gateway]]:
    """Factory: start_gateway(snapshot=dict|None, extra=[...], workers=1, wait_ready=True, name="edge-1",
    clock_shift=0, clock_rate=1.0); clock_shift: seconds the gateway's clock runs ahead (negative: behind), clock_rate:
    how fast it runs, both through libfaketime (tests.support.gateway.shifted_clock_env)."""
    started: list[Gateway] = []

    def start(
        snapshot: dict[str, Any] | None = None,
        *,
        extra: list[str] | None = None,
        workers: int = 1,
        wait_ready: bool = True,
        name: str = "edge-1",
        clock_shift: int = 0,
        clock_rate: float = 1.0,
    ) -> Gateway:
        folder = tmp_path / f"gw{len(started)}"  # may exist: a test can prepare gw0/runtime/state beforehand
        folder.mkdir(exist_ok=True)
        options = [
            "--workers", str(workers), "--log-flush-interval", "0.2", "--keys-dict-size", "32m",
            "--limits-dict-size", "4m",
            # off unless a test turns it on (extra options come later and win): several tests
            # legitimately send many unknown keys from 127.0.0.1
            "--invalid-key-limit", "0",
        ]  # fmt: skip
        if snapshot is not None:
            snap_file = folder / "snapshot.json"
            snap_file.write_text(json.dumps(snapshot))
            options += ["--snapshot-file", str(snap_file)]
        gw = Gateway.create(name, folder / "runtime", options + (extra or []))
        gw.clock_shift, gw.clock_rate = clock_shift, clock_rate
        started.append(gw)
        ready = wait_ready and (snapshot is not None or "--config-url" in (extra or []))
        return gw.start(wait_ready=ready, fresh_ports=True)

    yield start
    for gw in started:
        gw.stop(signal.SIGTERM)
        gw.session.close()
