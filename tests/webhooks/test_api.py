"""The REST API for webhook endpoints: secret shown once, roles, problem+json, and the delivery log."""

from __future__ import annotations

import pytest
from standardwebhooks.webhooks import Webhook

from foundation.models import AuditEvent
from keys.services import key_issue
from tests.support.problems import assert_problem
from tests.support.webhook_receiver import receiver
from webhooks import tasks
from webhooks.models import Delivery, Endpoint

pytestmark = pytest.mark.django_db


def _create(client, org, url="https://hooks.example.com/portico", **extra):
    body = {"url": url, "event_types": ["key.created"], **extra}
    return client.post(f"/api/v1/organisations/{org.pk}/webhooks/", body, format="json")


def test_an_owner_registers_an_endpoint_and_sees_the_secret_once(alice_api, org):
    response = _create(alice_api, org, description="billing")
    assert response.status_code == 201 and response["Cache-Control"] == "no-store"
    secret = response.json()["secret"]
    assert secret.startswith("whsec_")
    endpoint_id = response.json()["endpoint"]["id"]
    listed = alice_api.get(f"/api/v1/organisations/{org.pk}/webhooks/").content.decode()
    detail = alice_api.get(f"/api/v1/webhooks/{endpoint_id}/").content.decode()
    assert secret not in listed + detail and secret[6:] not in listed + detail
    assert secret not in Endpoint.objects.get().secret_encrypted  # encrypted at rest


def test_a_member_may_look_but_not_change(alice_api, bob_api, org):
    endpoint_id = _create(alice_api, org).json()["endpoint"]["id"]
    assert bob_api.get(f"/api/v1/webhooks/{endpoint_id}/").status_code == 200
    assert_problem(_create(bob_api, org), 403)
    assert_problem(bob_api.post(f"/api/v1/webhooks/{endpoint_id}/rotate-secret/"), 403)
    assert_problem(bob_api.delete(f"/api/v1/webhooks/{endpoint_id}/"), 403)


def test_an_outsider_gets_404(charlie_api, alice_api, org, charlie_org):
    endpoint_id = _create(alice_api, org).json()["endpoint"]["id"]
    assert_problem(charlie_api.get(f"/api/v1/webhooks/{endpoint_id}/"), 404)
    assert_problem(charlie_api.get(f"/api/v1/organisations/{org.pk}/webhooks/"), 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "https://169.254.169.254/", "event_types": ["key.created"]}, "url"),
        ({"url": "http://hooks.example.com/", "event_types": ["key.created"]}, "url"),
        ({"url": "https://hooks.example.com/", "event_types": ["nope"]}, "event_types"),
        ({"url": "https://hooks.example.com/", "event_types": []}, "event_types"),
        ({"url": "https://hooks.example.com/", "event_types": ["key.created"], "is_active": False}, "is_active"),
        ({"url": 42, "event_types": ["key.created"]}, "url"),
    ],
)
def test_bad_input_is_a_problem_with_field_errors(alice_api, org, body, field):
    response = alice_api.post(f"/api/v1/organisations/{org.pk}/webhooks/", body, format="json")
    problem = assert_problem(response, 400)
    assert field in str(problem)
    assert not Endpoint.objects.exists()


def test_rotate_update_disable_and_delete(alice_api, org):
    endpoint_id = _create(alice_api, org).json()["endpoint"]["id"]
    rotated = alice_api.post(f"/api/v1/webhooks/{endpoint_id}/rotate-secret/")
    assert rotated.status_code == 201 and rotated.json()["endpoint"]["previous_secret_expires_at"]
    patched = alice_api.patch(
        f"/api/v1/webhooks/{endpoint_id}/", {"is_active": False, "event_types": ["key.revoked"]}, format="json"
    )
    assert patched.status_code == 200
    assert (patched.json()["is_active"], patched.json()["event_types"]) == (False, ["key.revoked"])
    assert alice_api.delete(f"/api/v1/webhooks/{endpoint_id}/").status_code == 204
    assert not Endpoint.objects.exists()
    trail = list(AuditEvent.objects.filter(action__startswith="webhook.").order_by("pk").values_list("action", "data"))
    assert [action for action, _ in trail] == [
        "webhook.created",
        "webhook.secret_rotated",
        "webhook.updated",
        "webhook.deleted",
    ]
    assert rotated.json()["secret"] not in str(trail)


def test_test_event_delivery_log_and_send_again(alice_api, org, application, alice):
    with receiver((500, {}, b"nope"), (200, {}, b"thanks")) as hook:
        created = _create(alice_api, org, url=hook.url).json()
        endpoint_id, secret = created["endpoint"]["id"], created["secret"]
        assert alice_api.post(f"/api/v1/webhooks/{endpoint_id}/test/").status_code == 202
        tasks.deliver(Delivery.objects.get().pk)
        log = alice_api.get(f"/api/v1/webhooks/{endpoint_id}/deliveries/").json()["results"]
        [delivery] = log
        assert delivery["event_type"] == "webhook.test" and delivery["attempt_log"][0]["response_status"] == 500
        resent = alice_api.post(f"/api/v1/webhook-deliveries/{delivery['id']}/resend/")
        assert resent.status_code == 202 and resent.json()["status"] == "pending"
        tasks.deliver(delivery["id"])
        first, second = hook.received
        Webhook(secret).verify(second.body, second.headers)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery["event_id"]
    log = alice_api.get(f"/api/v1/webhooks/{endpoint_id}/deliveries/").json()["results"]
    assert [a["response_status"] for a in log[0]["attempt_log"]] == [500, 200]
    assert log[0]["attempt_log"][1]["response_excerpt"] == "thanks"
    assert log[0]["status"] == "succeeded"


def test_the_delivery_log_costs_a_fixed_number_of_queries(
    alice_api, org, application, alice, django_assert_max_num_queries
):
    endpoint_id = _create(alice_api, org).json()["endpoint"]["id"]
    for index in range(5):
        key_issue(actor=alice, application=application, name=f"k{index}")
    with django_assert_max_num_queries(12):
        response = alice_api.get(f"/api/v1/webhooks/{endpoint_id}/deliveries/")
    assert len(response.json()["results"]) == 5
