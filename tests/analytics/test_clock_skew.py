"""Usage collection from gateways whose clocks are off by minutes: libfaketime shifts a real nginx's clock."""

from __future__ import annotations

import time

import pytest
from django.db.models import Max, Min, Sum

from analytics.models import RequestEvent, UsageRollup
from analytics.tasks import collect_gateway_logs
from tests.support.waiting import wait_until

SKEW = 300  # seconds: five minutes, five times the freshness window of signed admin requests


@pytest.mark.parametrize("skew", [SKEW, -SKEW], ids=["ahead", "behind"])
def test_a_gateway_off_by_five_minutes_is_collected_at_the_platforms_time(
    skew, serving_gateway, api_key, application
) -> None:
    running, row = serving_gateway(flush_interval=0.05, clock_shift=skew)
    started = time.time()
    for n in range(5):
        assert running.get(f"/weather/items/{n}", key=api_key[1]).status_code == 200
    finished = time.time()
    records = wait_until(lambda: (r := running.records()) and len(r) >= 5 and r)
    assert abs(records[0]["t"] - skew - started) < 5  # the gateway really logs in its own, shifted, time

    collect_gateway_logs(row.pk)

    row.refresh_from_db()
    assert row.last_error == ""
    assert abs(row.clock_offset - skew) < 2
    assert running.status()["log"]["acked"] == row.log_cursor > 0
    day = UsageRollup.objects.filter(granularity="day", application_id=application.pk)
    assert day.aggregate(n=Sum("requests"))["n"] == 5
    span = RequestEvent.objects.aggregate(first=Min("time"), last=Max("time"))
    assert started - 2 <= span["first"].timestamp() <= span["last"].timestamp() <= finished + 2
