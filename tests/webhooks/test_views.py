"""The portal's webhook pages: the secret shown once, refusals next to the field, roles, and the delivery log."""

from __future__ import annotations

import pytest

from keys.services import key_issue
from tests.support.webhook_receiver import receiver
from webhooks import tasks
from webhooks.models import Delivery, Endpoint

pytestmark = pytest.mark.django_db


def _add(client, org, url):
    return client.post(f"/orgs/{org.pk}/webhooks/", {"url": url, "event_types": ["key.created", "key.revoked"]})


def test_an_owner_adds_an_endpoint_and_sees_the_secret_once(alice_client, org):
    response = _add(alice_client, org, "https://hooks.example.com/portico")
    endpoint = Endpoint.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/webhooks/{endpoint.pk}/"
    first = alice_client.get(response["Location"])
    assert "whsec_" in first.content.decode() and "no-store" in first["Cache-Control"]
    assert "whsec_" not in alice_client.get(response["Location"]).content.decode()


def test_an_internal_url_is_refused_next_to_the_field(alice_client, org):
    response = _add(alice_client, org, "https://169.254.169.254/latest/meta-data/")
    assert response.status_code == 200  # the form again, with the refusal next to the field
    assert "This address is internal" in response.content.decode()
    assert not Endpoint.objects.exists()


def test_members_look_outsiders_get_404(alice_client, bob_client, charlie_client, org, charlie_org):
    _add(alice_client, org, "https://hooks.example.com/portico")
    endpoint = Endpoint.objects.get()
    assert bob_client.get(f"/orgs/{org.pk}/webhooks/").status_code == 200
    assert bob_client.get(f"/webhooks/{endpoint.pk}/").status_code == 200
    assert _add(bob_client, org, "https://hooks.example.com/bob").status_code == 403
    assert bob_client.post(f"/webhooks/{endpoint.pk}/rotate/").status_code == 403
    assert charlie_client.get(f"/webhooks/{endpoint.pk}/").status_code == 404
    assert charlie_client.get(f"/orgs/{org.pk}/webhooks/").status_code == 404
    assert charlie_client.post(f"/webhooks/{endpoint.pk}/delete/").status_code == 404
    assert Endpoint.objects.count() == 1


def test_the_log_shows_every_attempt_and_send_again_sends_the_same_event(alice_client, org, application, alice):
    with receiver((500, {}, b"broken"), (202, {}, b"queued")) as hook:
        _add(alice_client, org, hook.url)
        key_issue(actor=alice, application=application, name="ci")
        delivery = Delivery.objects.get()
        tasks.deliver(delivery.pk)
        assert alice_client.post(f"/webhook-deliveries/{delivery.pk}/resend/").status_code == 302
        tasks.deliver(delivery.pk)
        assert [request.headers["webhook-id"] for request in hook.received] == [delivery.event_id] * 2
    page = alice_client.get(f"/webhooks/{delivery.endpoint_id}/").content.decode()
    assert "HTTP 500" in page and "HTTP 202" in page and "broken" in page and delivery.event_id in page


def test_disable_enable_test_event_and_delete(alice_client, org):
    _add(alice_client, org, "https://hooks.example.com/portico")
    endpoint = Endpoint.objects.get()
    alice_client.post(f"/webhooks/{endpoint.pk}/toggle/")
    assert not Endpoint.objects.get().is_active
    alice_client.post(f"/webhooks/{endpoint.pk}/test/")
    assert Delivery.objects.get().event.type == "webhook.test"
    alice_client.post(f"/webhooks/{endpoint.pk}/toggle/")
    assert Endpoint.objects.get().is_active
    assert alice_client.post(f"/webhooks/{endpoint.pk}/delete/").status_code == 302
    assert not Endpoint.objects.exists()
