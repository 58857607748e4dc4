"""The outbox: every enforcement change is recorded, in order, in the same transaction as the change."""

from datetime import timedelta

import pytest
from django.db import transaction

from gateway_sync.models import ConfigChange
from gateway_sync.selectors import current_version
from keys import services as key_services
from portal.models import Organisation
from portal.services.applications import subscription_cancel
from portal.services.organisations import organisation_set_status

pytestmark = pytest.mark.django_db


def _changes_after(version):
    return list(ConfigChange.objects.filter(version__gt=version).order_by("version"))


def test_issuing_a_key_publishes_its_edge_state_without_the_secret(alice, application, subscription):
    before = current_version()
    key, secret = key_services.key_issue(actor=alice, application=application, name="ci")
    [change] = _changes_after(before)
    assert (change.kind, change.op, change.object_id) == ("key", "upsert", key.digest)
    assert change.data["prefix"] == key.prefix and change.data["application_id"] == application.pk
    assert secret not in str(change.data)
    assert current_version() == change.version


def test_revoking_a_key_publishes_a_delete(alice, api_key):
    key, _ = api_key
    before = current_version()
    key_services.key_revoke(actor=alice, key=key)
    [change] = _changes_after(before)
    assert (change.kind, change.op, change.object_id, change.data) == ("key", "delete", key.digest, None)


def test_rotation_publishes_the_shortened_old_key_and_the_successor(alice, api_key):
    key, _ = api_key
    before = current_version()
    successor, _ = key_services.key_rotate(actor=alice, key=key, grace=timedelta(hours=1))
    changes = _changes_after(before)
    assert [c.object_id for c in changes] == [key.digest, successor.digest]
    assert changes[0].data["expires_at"] is not None
    assert [c.version for c in changes] == [before + 1, before + 2]


def test_a_rolled_back_change_leaves_no_trace_in_the_feed(alice, api_key):
    key, _ = api_key
    before = current_version()
    with pytest.raises(RuntimeError), transaction.atomic():
        key_services.key_revoke(actor=alice, key=key)
        raise RuntimeError("abort")
    assert _changes_after(before) == [] and current_version() == before


@pytest.mark.django_db(transaction=True)
def test_recording_outside_a_transaction_is_refused(api_key):
    from gateway_sync.changes import record_keys

    with pytest.raises(RuntimeError):
        record_keys([api_key[0]])


def test_suspending_an_organisation_removes_its_keys_and_subscriptions_at_the_edge(alice, api_key, subscription):
    key, _ = api_key
    before = current_version()
    organisation_set_status(
        organisation=subscription.application.organisation, status=Organisation.Status.SUSPENDED, actor=alice
    )
    ops = {(c.kind, c.op, c.object_id) for c in _changes_after(before)}
    assert ("key", "delete", key.digest) in ops
    assert ("subscription", "delete", str(subscription.pk)) in ops


def test_cancelling_a_subscription_publishes_a_delete(alice, subscription):
    before = current_version()
    subscription_cancel(actor=alice, subscription=subscription)
    [change] = _changes_after(before)
    assert (change.kind, change.op, change.object_id) == ("subscription", "delete", str(subscription.pk))
