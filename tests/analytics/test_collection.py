"""Collection end to end: real requests through a real gateway, collected, counted once and acknowledged."""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from django.db.models import Sum

from analytics.models import IngestedBatch, RequestEvent, UsageRollup
from analytics.services.collection import CollectResult, _ingest_page, gateway_logs_collect
from analytics.tasks import collect_gateway_logs
from gateway_sync.admin_client import GatewayAdminClient
from gateway_sync.models import Gateway
from keys.models import ApiKey
from tests.support.gateway import PUSH_SECRET
from tests.support.waiting import wait_until


@pytest.fixture
def edge(api_key, serving_gateway) -> tuple[Any, Gateway, str]:
    """A real gateway serving the platform's snapshot, registered as a Gateway row; and alice's key."""
    running, row = serving_gateway(flush_interval=0.05)
    return running, row, api_key[1]


def _drive(running: Any, secret: str, count: int) -> None:
    """Send `count` requests and wait until the gateway has put them all in batches."""
    total = len(running.records()) + count
    for n in range(count):
        assert running.get(f"/weather/items/{n}", key=secret).status_code == 200
    wait_until(lambda: len(running.records()) >= total)


def test_requests_through_a_gateway_are_collected_counted_and_acknowledged(edge, application) -> None:
    running, row, secret = edge
    _drive(running, secret, 40)
    assert running.get("/weather/items", key="ptc_live_nope").status_code == 401

    wait_until(lambda: len(running.records()) >= 41)
    collect_gateway_logs(row.pk)

    assert RequestEvent.objects.count() == 41
    assert RequestEvent.objects.filter(application_id=application.pk, status=200).count() == 40
    day = UsageRollup.objects.filter(granularity="day", application_id=application.pk)
    assert day.aggregate(n=Sum("requests"))["n"] == 40
    row.refresh_from_db()
    last = IngestedBatch.objects.order_by("-sequence").first()
    assert row.log_cursor == last.sequence and row.log_collected_at is not None
    assert running.status()["log"]["acked"] == row.log_cursor
    assert running.logs(after=row.log_cursor)["batches"] == []
    assert ApiKey.objects.get(application=application).last_used_at is not None


def test_a_backlog_is_collected_in_bounded_steps_and_counted_once(edge) -> None:
    running, row, secret = edge
    for _ in range(4):  # several flush intervals: several batches
        _drive(running, secret, 5)
    batches = len(running.logs()["batches"])
    assert batches >= 2

    first = gateway_logs_collect(gateway_id=row.pk, limit=1, rounds=1)
    assert first.batches == 1
    while gateway_logs_collect(gateway_id=row.pk, limit=1, rounds=3).batches:
        pass

    assert RequestEvent.objects.count() == 20
    assert UsageRollup.objects.filter(granularity="minute").aggregate(n=Sum("requests"))["n"] == 20
    assert IngestedBatch.objects.count() == batches


def test_an_unreachable_gateway_is_recorded_not_fatal(gateway) -> None:
    result = gateway_logs_collect(gateway_id=gateway.pk, limit=10, rounds=2)
    assert result.batches == 0
    gateway.refresh_from_db()
    assert "reading logs failed" in gateway.last_error
    assert gateway.log_cursor == 0


def test_a_disabled_gateway_is_not_collected(gateway) -> None:
    Gateway.objects.filter(pk=gateway.pk).update(enabled=False)
    assert gateway_logs_collect(gateway_id=gateway.pk, limit=10, rounds=1).batches == 0
    gateway.refresh_from_db()
    assert gateway.last_error == ""


def test_a_gateway_whose_spool_starts_over_is_collected_from_its_new_start(edge, application) -> None:
    running, row, secret = edge
    _drive(running, secret, 10)
    collect_gateway_logs(row.pk)
    running.stop()
    shutil.rmtree(running.runtime_dir / "spool")  # a wiped disk, or a new machine under the same name
    running.start()
    _drive(running, secret, 4)

    collect_gateway_logs(row.pk)

    day = UsageRollup.objects.filter(granularity="day", application_id=application.pk)
    assert day.aggregate(n=Sum("requests"))["n"] == 14
    row.refresh_from_db()
    assert "restarted" in row.last_error and row.log_cursor == running.status()["log"]["sequence"]


def test_a_lost_ack_is_repeated_and_nothing_is_counted_twice(edge, application) -> None:
    running, row, secret = edge
    _drive(running, secret, 6)
    client = GatewayAdminClient(row.admin_url, PUSH_SECRET)
    page = client.request("GET", "/_portico/logs?after=0&limit=100").json()["batches"]
    _ingest_page(row.pk, 0, page, CollectResult())  # committed, but the ack never reached the gateway
    row.refresh_from_db()
    assert running.status()["log"]["acked"] < row.log_cursor

    collect_gateway_logs(row.pk)

    day = UsageRollup.objects.filter(granularity="day", application_id=application.pk)
    assert day.aggregate(n=Sum("requests"))["n"] == 6
    assert running.status()["log"]["acked"] == row.log_cursor


def test_a_lost_ack_is_repeated_when_ingest_repaired_the_request_ids(edge, application) -> None:
    """Clients choose request ids and ingest repairs them: only the gateway's digest tells a lost ack from a restart."""
    running, row, secret = edge
    for n in range(6):
        headers = {"X-Request-Id": f"client\tid-{n}"}  # a tab: logged as sent, stored without it
        assert running.get(f"/weather/items/{n}", key=secret, headers=headers).status_code == 200
    wait_until(lambda: len(running.records()) >= 6)
    client = GatewayAdminClient(row.admin_url, PUSH_SECRET)
    page = client.request("GET", "/_portico/logs?after=0&limit=100").json()["batches"]
    _ingest_page(row.pk, 0, page, CollectResult())  # committed, but the ack never reached the gateway
    assert RequestEvent.objects.filter(request_id="clientid-0").exists()

    collect_gateway_logs(row.pk)

    day = UsageRollup.objects.filter(granularity="day", application_id=application.pk)
    assert day.aggregate(n=Sum("requests"))["n"] == 6
    row.refresh_from_db()
    assert "restarted" not in row.last_error
    assert running.status()["log"]["acked"] == row.log_cursor
