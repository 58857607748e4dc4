"""OAuth client events (created, rotated, revoked) reach a real receiver, signed, and commit with the change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from standardwebhooks.webhooks import Webhook

from keys.services.clients import oauth_client_issue, oauth_client_revoke, oauth_client_rotate
from tests.support.webhook_receiver import receiver
from webhooks import tasks
from webhooks.models import Delivery, Event

pytestmark = pytest.mark.django_db
CLIENT_EVENTS = ["oauth_client.created", "oauth_client.rotated", "oauth_client.revoked"]


def test_a_revoked_client_is_delivered_to_the_receiver_without_its_secret(make_endpoint, application, alice):
    with receiver((204, {}, b"")) as hook:
        endpoint, secret = make_endpoint(hook.url, event_types=["oauth_client.revoked"])
        client, client_secret = oauth_client_issue(actor=alice, application=application, name="Backend")
        oauth_client_revoke(actor=alice, client=client)
        [delivery] = Delivery.objects.filter(endpoint=endpoint)  # the endpoint did not ask for .created
        tasks.deliver(delivery.pk)
        [request] = hook.received
        payload = Webhook(secret).verify(request.body, request.headers)
    assert payload["type"] == "oauth_client.revoked"
    assert payload["data"]["oauth_client"]["client_id"] == client.client_id
    assert payload["data"]["oauth_client"]["status"] == "revoked"
    assert payload["data"]["tokens_revoked"] == 0
    body = request.body.decode()
    assert client_secret not in body and client.secret_digest not in body and "digest" not in body


def test_every_client_change_publishes_its_event(make_endpoint, application, alice):
    make_endpoint("https://hooks.example.com/portico", event_types=CLIENT_EVENTS)
    client, _ = oauth_client_issue(actor=alice, application=application, name="Backend")
    oauth_client_rotate(actor=alice, client=client, grace=timedelta(hours=1))
    oauth_client_revoke(actor=alice, client=client)
    oauth_client_revoke(actor=alice, client=client)  # idempotent: no second event
    types = list(Event.objects.order_by("created_at").values_list("type", flat=True))
    assert types == CLIENT_EVENTS
    rotated = Event.objects.get(type="oauth_client.rotated").data
    assert "previous_secret_valid_until" in rotated
    assert set(rotated["oauth_client"]) == {"id", "name", "client_id", "secret_last4", "status", "application_id"}


def test_the_event_rolls_back_with_the_client(make_endpoint, application, alice):
    make_endpoint("https://hooks.example.com/portico", event_types=CLIENT_EVENTS)
    with pytest.raises(RuntimeError), transaction.atomic():
        oauth_client_issue(actor=alice, application=application, name="Backend")
        raise RuntimeError("the surrounding change failed")
    assert not Event.objects.exists()


def test_the_api_and_the_portal_form_offer_the_client_events(alice_api, alice_client, org):
    body = {"url": "https://hooks.example.com/portico", "event_types": CLIENT_EVENTS}
    response = alice_api.post(f"/api/v1/organisations/{org.pk}/webhooks/", body, format="json")
    assert response.status_code == 201, response.content
    assert sorted(response.json()["endpoint"]["event_types"]) == sorted(CLIENT_EVENTS)
    page = alice_client.get(f"/orgs/{org.pk}/webhooks/").content.decode()
    assert all(f'value="{event}"' in page for event in CLIENT_EVENTS)
