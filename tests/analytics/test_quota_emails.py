"""Quota emails end to end: traffic through a real gateway, collected, crosses 80% and 100% of the daily quota;
each threshold is emailed once per period, and again in the next period."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from analytics.services.ingest import batch_ingest
from analytics.tasks import collect_gateway_logs
from notifications.models import Notification
from notifications.services import notifications_send_due, quota_thresholds_evaluate
from notifications.tasks import check_quotas
from portal.models import Plan
from tests.support.access_log import batch, record
from tests.support.waiting import wait_until

DAILY_QUOTA = 10


@pytest.fixture
def edge(api_key: Any, serving_gateway: Any, subscription: Any) -> tuple[Any, Any, str]:
    """A real gateway serving alice's subscription on a plan of 10 requests a day."""
    Plan.objects.filter(pk=subscription.plan_id).update(quota_per_day=DAILY_QUOTA, quota_per_month=None)
    running, row = serving_gateway(flush_interval=0.05)
    return running, row, api_key[1]


def _traffic(running: Any, row: Any, secret: str, count: int) -> None:
    """Requests through the gateway, collected and checked as the beat does, then the outbox swept."""
    total = len(running.records()) + count
    for n in range(count):
        assert running.get(f"/weather/items/{n}", key=secret).status_code == 200
    wait_until(lambda: len(running.records()) >= total)
    collect_gateway_logs(row.pk)
    check_quotas()
    notifications_send_due()


def _quota_mails() -> list[Any]:
    return [m for m in mail.outbox if "quota" in m.subject]


def test_crossing_80_then_100_percent_emails_each_owner_once_per_threshold_and_period(
    edge, alice, subscription
) -> None:
    running, row, secret = edge
    _traffic(running, row, secret, 7)
    assert _quota_mails() == []

    _traffic(running, row, secret, 1)  # 8 of 10: 80%

    [first] = _quota_mails()
    assert first.to == [alice.email]  # the owner; bob is a member, not an admin
    assert "80%" in first.subject and "daily" in first.subject
    assert "8 of 10 requests" in first.body and "http://" in first.body
    assert first.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert first.extra_headers["List-Unsubscribe"].startswith("<http")
    html = first.alternatives[0]
    assert html[1] == "text/html" and "8 of 10 requests" in html[0]

    _traffic(running, row, secret, 1)  # 9 of 10: still 80%, nothing new
    check_quotas()
    assert len(_quota_mails()) == 1

    _traffic(running, row, secret, 1)  # 10 of 10: 100%
    assert len(_quota_mails()) == 2 and "100%" in _quota_mails()[1].subject
    assert Notification.objects.filter(status="sent").count() == 2

    # The next day starts from zero: crossing 80% again is a new occurrence, emailed again.
    tomorrow = (timezone.now() + timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    ids = {
        "api": subscription.api_id,
        "app": subscription.application_id,
        "org": subscription.application.organisation_id,
        "sub": subscription.pk,
        "plan": subscription.plan_id,
    }
    with time_machine.travel(tomorrow, tick=False):
        records = [record(ids, t=tomorrow.timestamp()) for _ in range(8)]
        batch_ingest(gateway_id=row.pk, batch=batch(10_000, records))
        assert quota_thresholds_evaluate(now=tomorrow) == 1
        assert quota_thresholds_evaluate(now=tomorrow) == 0  # a second beat decides nothing new
        notifications_send_due()
    assert len(_quota_mails()) == 3 and "80%" in _quota_mails()[2].subject
