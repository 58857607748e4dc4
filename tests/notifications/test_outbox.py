"""The outbox over a real SMTP connection: a refused connection leaves the email pending and retried with backoff;
two sweeps at once send it once."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from notifications.models import Kind, Notification
from notifications.services import notifications_record, notifications_send_due
from notifications.services.outbox import Draft
from tests.support.ports import free_port
from tests.support.smtp_sink import smtp_sink


def _smtp(port: int) -> Any:
    return override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_HOST="127.0.0.1", EMAIL_PORT=port
    )


def _draft(org: Any, user: Any, occurrence: str = "2026-11-29:80") -> Draft:
    context = {
        "threshold": 80,
        "period": "daily",
        "used": 8,
        "limit": 10,
        "resets_at": "2026-11-30T00:00:00+00:00",
        "api": "Weather",
        "plan": "Free",
        "application": "Forecasts",
        "application_id": 1,
    }
    return Draft(Kind.QUOTA, org.pk, "subscription:1", occurrence, user.pk, context)


def test_a_refused_smtp_connection_leaves_the_email_pending_and_the_sweep_retries_it(org, alice) -> None:
    [notification_id] = notifications_record([_draft(org, alice)])
    with _smtp(free_port()):  # nothing listens there
        assert notifications_send_due() == 0
    row = Notification.objects.get(pk=notification_id)
    assert (row.status, row.attempts, row.sent_at) == ("pending", 1, None)
    assert row.last_error == "ConnectionRefusedError" and row.next_attempt_at > timezone.now()

    with smtp_sink() as sink, _smtp(sink.port):
        assert notifications_send_due() == 0  # not due before its backoff
        with time_machine.travel(row.next_attempt_at + timedelta(seconds=1)):
            assert notifications_send_due() == 1
            assert notifications_send_due() == 0
    assert len(sink.messages) == 1
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in sink.messages[0]
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sent", 2) and row.sent_at is not None


def test_recording_the_same_occurrence_again_creates_nothing(org, alice) -> None:
    assert len(notifications_record([_draft(org, alice)])) == 1
    assert notifications_record([_draft(org, alice)]) == []
    assert notifications_record([_draft(org, alice, occurrence="2026-11-30:80")]) != []
    assert Notification.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_send_an_email_once(org, alice) -> None:
    notifications_record([_draft(org, alice)])
    results: list[int] = []

    def sweep() -> None:
        try:
            results.append(notifications_send_due())
        finally:
            connection.close()

    with smtp_sink(delay=0.5) as sink, _smtp(sink.port):
        threads = [threading.Thread(target=sweep) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert sorted(results) == [0, 1]
    assert len(sink.messages) == 1
    assert Notification.objects.get().status == "sent"
