from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from foundation.errors import LimitReached, ValidationFailed
from foundation.models import AuditEvent
from keys import tokens
from keys.models import ApiKey
from keys.services import key_issue, key_revoke, key_rotate, key_update


def test_issued_key_stores_only_the_digest(api_key) -> None:
    key, secret = api_key
    stored = ApiKey.objects.get(pk=key.pk)
    assert stored.digest == tokens.digest(secret)
    assert secret not in {stored.prefix, stored.digest, stored.last4, stored.name}
    assert stored.masked == f"{secret[:16]}…{secret[-4:]}"
    assert not AuditEvent.objects.filter(data__icontains=secret).exists()


def test_rotation_keeps_the_old_key_valid_until_the_grace_deadline(api_key, alice) -> None:
    old, _ = api_key
    new, new_secret = key_rotate(actor=alice, key=old, grace=timedelta(hours=1))
    old.refresh_from_db()
    now = timezone.now()
    assert old.state_at(now) == "grace" and new.state_at(now) == "active"
    assert tokens.is_well_formed(new_secret)
    with time_machine.travel(now + timedelta(hours=1, seconds=1)):
        assert old.state_at(timezone.now()) == "expired"
        assert not old.is_usable_at(timezone.now())
        assert new.is_usable_at(timezone.now())


def test_immediate_rotation_kills_the_old_key_now(api_key, alice) -> None:
    old, _ = api_key
    key_rotate(actor=alice, key=old, grace=timedelta(0))
    old.refresh_from_db()
    assert not old.is_usable_at(timezone.now())


def test_revoke_is_immediate_and_idempotent(api_key, alice) -> None:
    key, _ = api_key
    key_revoke(actor=alice, key=key)
    key_revoke(actor=alice, key=key)
    key.refresh_from_db()
    assert key.status == "revoked"
    assert AuditEvent.objects.filter(action="key.revoked", target_id=str(key.pk)).count() == 1


def test_active_keys_per_application_are_limited(application, subscription, alice, settings) -> None:
    settings.PORTICO_MAX_ACTIVE_KEYS_PER_APPLICATION = 2
    key_issue(actor=alice, application=application, name="one")
    key_issue(actor=alice, application=application, name="two")
    with pytest.raises(LimitReached):
        key_issue(actor=alice, application=application, name="three")


def test_cidrs_are_validated_and_normalised(api_key, alice) -> None:
    key, _ = api_key
    key = key_update(actor=alice, key=key, allowed_cidrs=["10.1.2.3/8", "2001:db8::1/32", "192.0.2.7"])
    assert key.allowed_cidrs == ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"]
    assert key.allows_ip("2001:db8:ffff::1") and not key.allows_ip("2001:db9::1")
    with pytest.raises(ValidationFailed) as error:
        key_update(actor=alice, key=key, allowed_cidrs=["10.0.0.0/33"])
    assert "allowed_cidrs" in error.value.field_errors


def test_scopes_must_be_subscribed_apis(application, subscription, alice, db) -> None:
    from tests.factories import ApiFactory

    other = ApiFactory()
    with pytest.raises(ValidationFailed):
        key_issue(actor=alice, application=application, name="scoped", apis=[other])
    key, _ = key_issue(actor=alice, application=application, name="scoped", apis=[subscription.api])
    assert list(key.apis.all()) == [subscription.api]
