"""Signed delivery to a real receiver on 127.0.0.1, at-least-once with retries, and the outbox's transaction."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from keys.services import key_issue, key_revoke, key_rotate
from portal.services.applications import subscription_cancel
from tests.support.webhook_receiver import receiver
from webhooks import services, tasks
from webhooks.models import Attempt, Delivery, Endpoint, Event

pytestmark = pytest.mark.django_db


@pytest.mark.smoke
def test_a_loopback_receiver_verifies_the_signature_with_the_documented_recipe(make_endpoint, application, alice):
    with receiver((204, {}, b"")) as hook:
        endpoint, secret = make_endpoint(hook.url)
        key, _ = key_issue(actor=alice, application=application, name="ci")
        delivery = Delivery.objects.get(endpoint=endpoint)
        tasks.deliver(delivery.pk)

        [request] = hook.received
        # The snippet of docs/webhooks.md, as a receiver runs it.
        payload = Webhook(secret).verify(request.body, request.headers)
    assert payload["type"] == "key.created"
    assert payload["data"]["key"]["prefix"] == key.prefix
    assert "digest" not in json.dumps(payload)
    assert request.headers["webhook-id"] == delivery.event_id
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED


def test_a_wrong_secret_or_a_changed_body_fails_verification(make_endpoint, application, alice):
    with receiver((204, {}, b"")) as hook:
        endpoint, secret = make_endpoint(hook.url)
        key_issue(actor=alice, application=application, name="ci")
        tasks.deliver(Delivery.objects.get(endpoint=endpoint).pk)
        [request] = hook.received
    other, _ = make_endpoint("https://hooks.example.com/other")
    with pytest.raises(Exception, match="signature"):
        Webhook(services._signing_secrets(other)[0]).verify(request.body, request.headers)
    with pytest.raises(Exception, match="signature"):
        Webhook(secret).verify(request.body.replace(b"ci", b"cx"), request.headers)


def test_a_receiver_failing_twice_gets_one_event_three_times_with_the_same_id(make_endpoint, application, alice):
    failing = (500, {}, b"database is down")
    with (
        receiver(failing, (503, {}, b"busy"), (200, {}, b"ok")) as hook,
        time_machine.travel(timezone.now(), tick=False) as clock,
    ):
        endpoint, secret = make_endpoint(hook.url)
        key_issue(actor=alice, application=application, name="ci")
        delivery = Delivery.objects.get(endpoint=endpoint)
        tasks.deliver(delivery.pk)
        tasks.send_due()  # not due yet: the first retry waits 5 s
        assert len(hook.received) == 1
        clock.shift(timedelta(seconds=5))
        tasks.send_due()
        tasks.deliver(delivery.pk)  # a duplicate task finds nothing due
        assert len(hook.received) == 2
        clock.shift(timedelta(minutes=5))
        tasks.send_due()
        Webhook(secret).verify(hook.received[-1].body, hook.received[-1].headers)  # each attempt is signed anew
        ids = [request.headers["webhook-id"] for request in hook.received]
        bodies = {request.body for request in hook.received}
    assert ids == [delivery.event_id] * 3
    assert len(bodies) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.SUCCEEDED, 3)
    log = list(Attempt.objects.filter(delivery=delivery).values_list("number", "response_status", "response_excerpt"))
    assert log == [(1, 500, "database is down"), (2, 503, "busy"), (3, 200, "ok")]
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None and endpoint.is_active


def test_events_are_recorded_in_the_changes_transaction_and_only_for_endpoints_that_want_them(
    make_endpoint, owner, application, subscription, alice
):
    revokes, _ = make_endpoint("https://hooks.example.com/revokes", ["key.revoked"])
    subscriptions, _ = make_endpoint("https://hooks.example.com/subs", ["subscription.changed"])
    with pytest.raises(RuntimeError), transaction.atomic():
        key_issue(actor=alice, application=application, name="rolled back")
        raise RuntimeError
    assert not Event.objects.exists()
    key, _ = key_issue(actor=alice, application=application, name="ci")
    assert not Event.objects.exists()  # nobody listens to key.created
    key_revoke(actor=alice, key=key)
    key_revoke(actor=alice, key=key)  # idempotent: no second event
    subscription_cancel(actor=alice, subscription=subscription)
    events = {event.type: event for event in Event.objects.all()}
    assert set(events) == {"key.revoked", "subscription.changed"}
    assert events["subscription.changed"].data["change"] == "cancelled"
    assert Delivery.objects.get(event=events["key.revoked"]).endpoint == revokes
    assert Delivery.objects.get(event=events["subscription.changed"]).endpoint == subscriptions


def test_after_a_rotation_both_secrets_sign_until_the_overlap_ends(make_endpoint, owner, application, alice):
    with receiver((204, {}, b"")) as hook:
        endpoint, old_secret = make_endpoint(hook.url)
        endpoint, new_secret = services.endpoint_rotate_secret(membership=owner, endpoint=endpoint)
        key, _ = key_issue(actor=alice, application=application, name="ci")
        key_rotate(actor=alice, key=key, grace=timedelta(0))
        created, rotated = Delivery.objects.order_by("pk")
        tasks.deliver(created.pk)
        first = hook.received[0]
        for secret in (old_secret, new_secret):
            Webhook(secret).verify(first.body, first.headers)
        with time_machine.travel(timezone.now() + timedelta(hours=25), tick=False):
            tasks.deliver(rotated.pk)
            second = hook.received[1]
            Webhook(new_secret).verify(second.body, second.headers)
            with pytest.raises(Exception, match="signature"):
                Webhook(old_secret).verify(second.body, second.headers)  # the old secret stopped signing
    assert len(first.headers["webhook-signature"].split(" ")) == 2
    assert len(second.headers["webhook-signature"].split(" ")) == 1


def test_an_endpoint_failing_for_24_hours_is_disabled_and_its_owners_are_emailed(
    make_endpoint, application, alice, django_capture_on_commit_callbacks
):
    with receiver((500, {}, b"")) as hook, time_machine.travel(timezone.now(), tick=False) as clock:
        endpoint, _ = make_endpoint(hook.url)
        key_issue(actor=alice, application=application, name="ci")
        delivery = Delivery.objects.get(endpoint=endpoint)
        attempts = 0
        while Endpoint.objects.get(pk=endpoint.pk).is_active and attempts < 30:
            with django_capture_on_commit_callbacks(execute=True):
                tasks.send_due()
            clock.shift(timedelta(hours=1))
            attempts += 1
    endpoint.refresh_from_db()
    delivery.refresh_from_db()
    assert not endpoint.is_active and "24 hours" in endpoint.disabled_reason
    assert delivery.status == Delivery.Status.FAILED  # the last try is made at the end of the retry window
    assert 5 <= delivery.attempts <= 8
    assert [message.to for message in mail.outbox] == [[alice.email]]
    assert endpoint.url in mail.outbox[0].body
