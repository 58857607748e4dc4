"""What a flag does besides existing: an audit entry in the chain, a `usage.anomaly` webhook event, an email to
owners and admins (with a per-kind opt-out); invalid-key bursts per client address from the collected events; and
exactly one flag when two detection runs race over the same hour on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import connection, transaction

from analytics.services.ingest import batch_ingest
from anomalies.models import Flag
from anomalies.services import anomalies_detect
from foundation.models import AuditEvent
from gateway_sync import secrets
from gateway_sync.models import Gateway
from notifications.models import Kind, Notification
from notifications.services import notifications_send_due, opt_out_set
from tests.support.access_log import batch, record
from tests.support.gateway import PUSH_SECRET
from tests.support.waiting import wait_until
from webhooks import services as webhooks
from webhooks.models import Event


def _detect(hour: Any) -> list[Flag]:
    return anomalies_detect(now=hour + timedelta(minutes=30))


def test_a_flag_is_audited_sent_as_a_webhook_event_and_emailed_to_owners(
    org, alice, bob, hour_rollup, hour, api_key
) -> None:
    membership = org.memberships.get(user=alice)
    endpoint, _ = webhooks.endpoint_create(
        membership=membership, url="https://hooks.example.com/portico", event_types=["usage.anomaly"]
    )
    hour_rollup(hour, 2500)
    [flag] = _detect(hour)

    entry = AuditEvent.objects.get(action="usage.anomaly_flagged")
    assert (entry.organisation_id, entry.target_type, entry.target_id) == (org.pk, "flag", str(flag.pk))
    assert entry.actor_label == "anomaly detection" and entry.data["rule"] == "traffic_spike"
    assert entry.entry_hash and entry.org_seq is not None  # linked into the global and the organisation's chain

    event = Event.objects.get(type="usage.anomaly")
    assert event.organisation_id == org.pk and event.deliveries.get().endpoint == endpoint
    key = api_key[0]
    assert event.data["flag"]["key"] == {"id": key.pk, "name": key.name, "prefix": key.prefix}
    assert event.data["flag"]["details"] == {"requests": 2500, "baseline_requests": 0.0}
    assert event.data["application"] == {"id": key.application_id, "name": key.application.name}
    assert api_key[1] not in str(event.data)  # never the secret

    notifications_send_due()
    [message] = mail.outbox
    assert message.to == [alice.email]  # bob is a plain member
    assert "Traffic spike on key Server key" in message.subject
    assert "2500 requests in the hour" in message.body and f"/applications/{key.application_id}/usage/" in message.body

    assert _detect(hour) == []  # a rerun: no second event, entry or email
    assert Event.objects.filter(type="usage.anomaly").count() == 1
    assert AuditEvent.objects.filter(action="usage.anomaly_flagged").count() == 1
    assert Notification.objects.filter(kind=Kind.ANOMALY).count() == 1


def test_an_error_rate_email_says_how_many_requests_failed(org, alice, baseline, hour_rollup, hour) -> None:
    baseline(1000, errors=1)
    hour_rollup(hour, 200, errors=60)
    [flag] = _detect(hour)
    notifications_send_due()
    [message] = mail.outbox
    assert flag.rule == "error_rate" and message.subject.endswith("Error rate jump on key Server key of Alice's app")
    assert "60 of 200 requests answered with a server error (5xx)" in message.body
    assert "30.0%, against 0.1% over the 7 days before" in message.body
    assert "60 of 200 requests answered with a server error" in message.alternatives[0][0]


def test_an_owner_who_turned_anomaly_emails_off_gets_none(org, alice, hour_rollup, hour) -> None:
    opt_out_set(user=alice, kind=Kind.ANOMALY, enabled=False)
    hour_rollup(hour, 2500)
    assert len(_detect(hour)) == 1
    notifications_send_due()
    assert mail.outbox == [] and not Notification.objects.filter(kind=Kind.ANOMALY).exists()


def test_an_endpoint_that_did_not_ask_for_usage_anomaly_gets_nothing(org, alice, hour_rollup, hour) -> None:
    webhooks.endpoint_create(
        membership=org.memberships.get(user=alice), url="https://hooks.example.com/portico", event_types=["key.created"]
    )
    hour_rollup(hour, 2500)
    assert len(_detect(hour)) == 1
    assert not Event.objects.filter(type="usage.anomaly").exists()


def _invalid_keys(gateway_id: int, sequence: int, address: str, count: int, hour: Any) -> None:
    """`count` invalid-key denials from one address in the hour, as a gateway logs them; every fifth one the flood
    throttle's 429 (docs/gateway-protocol.md §8)."""
    moment = (hour + timedelta(minutes=1)).timestamp()
    records = [
        record(t=moment + n / 100, s=429 if n % 5 == 4 else 401, ip=address, key="ptc_live_Zz9",
               dc="too-many-invalid-keys" if n % 5 == 4 else "invalid-key")
        for n in range(count)
    ]  # fmt: skip
    batch_ingest(gateway_id=gateway_id, batch=batch(sequence, records))


def test_a_client_address_with_a_burst_of_invalid_keys_is_flagged_for_staff(gateway, hour, api_key) -> None:
    _invalid_keys(gateway.pk, 1, "198.51.100.7", 100, hour)  # at the threshold
    _invalid_keys(gateway.pk, 2, "198.51.100.8", 99, hour)  # one short
    _invalid_keys(gateway.pk, 3, "2001:db8::1", 60, hour)
    _invalid_keys(gateway.pk, 4, "2001:db8::1", 40, hour - timedelta(hours=2))  # an hour not examined
    # Other denials from the same address do not count.
    other = [record(t=(hour + timedelta(minutes=2)).timestamp(), s=401, ip="198.51.100.8", dc="missing-key")]
    batch_ingest(gateway_id=gateway.pk, batch=batch(5, other * 5))

    [flag] = _detect(hour)
    assert (flag.rule, flag.subject, flag.client_ip, flag.observed) == (
        "invalid_key_burst",
        "ip:198.51.100.7",
        "198.51.100.7",
        100,
    )
    assert flag.organisation_id is None and flag.application_id is None  # no tenant's: the staff page lists it
    entry = AuditEvent.objects.get(action="usage.anomaly_flagged")
    assert entry.organisation_id is None and entry.data["client_ip"] == "198.51.100.7"
    assert not Event.objects.exists() and not Notification.objects.exists()
    assert _detect(hour) == []


@pytest.fixture
def gateway(db: Any) -> Gateway:
    """A gateway row: all ingest needs."""
    return Gateway.objects.create(
        name="edge-1", admin_url="http://127.0.0.1:9", push_secret_encrypted=secrets.encrypt(PUSH_SECRET)
    )


def _backend_waiting_for_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_detection_runs_raise_one_flag(org, alice, hour_rollup, hour) -> None:
    """Run A inserts the flag and holds its transaction open; run B, which cannot see it yet, tries the same insert
    and waits on the unique index; when A commits, B's insert fails and B records and announces nothing."""
    hour_rollup(hour, 2500)
    a_inserted, a_may_commit = threading.Event(), threading.Event()
    results: dict[str, Any] = {}

    def run_a() -> None:
        try:
            with transaction.atomic():
                results["a"] = _detect(hour)
                a_inserted.set()
                a_may_commit.wait(timeout=30)
        finally:
            connection.close()

    def run_b() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                results["b_pid"] = cursor.fetchone()[0]
            results["b"] = _detect(hour)
        finally:
            connection.close()

    a = threading.Thread(target=run_a)
    a.start()
    assert a_inserted.wait(timeout=30)
    b = threading.Thread(target=run_b)
    b.start()
    wait_until(lambda: "b_pid" in results and _backend_waiting_for_a_lock(results["b_pid"]), timeout=30)
    a_may_commit.set()
    a.join(timeout=30)
    b.join(timeout=30)
    assert len(results["a"]) == 1 and results["b"] == []
    assert Flag.objects.count() == 1
    assert AuditEvent.objects.filter(action="usage.anomaly_flagged").count() == 1
    assert Notification.objects.filter(kind=Kind.ANOMALY).count() == 1
