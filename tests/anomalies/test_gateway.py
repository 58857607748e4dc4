"""Anomalies end to end: traffic through a real gateway, collected as the beat collects it, then detection as the
beat runs it. A spike raises exactly one flag (and a rerun, or more traffic in the same hour, none); a flood of
invalid keys that the gateway throttles is reported per client address."""

from __future__ import annotations

from typing import Any

from django.core import mail
from django.test import override_settings

from analytics.tasks import collect_gateway_logs
from anomalies.models import Flag
from anomalies.tasks import detect
from notifications.services import notifications_send_due
from tests.support.waiting import wait_until
from webhooks.models import Event
from webhooks.services import endpoint_create

SPIKE_MIN = 30


def _through(running: Any, row: Any, keys: list[str]) -> list[int]:
    """One request per key through the gateway, collected; returns the statuses."""
    total = len(running.records()) + len(keys)
    statuses = [running.get(f"/weather/items/{n}", key=key).status_code for n, key in enumerate(keys)]
    wait_until(lambda: len(running.records()) >= total)
    collect_gateway_logs(row.pk)
    return statuses


@override_settings(PORTICO_ANOMALY_SPIKE_MIN_REQUESTS=SPIKE_MIN)
def test_a_traffic_spike_through_a_real_gateway_raises_exactly_one_flag(
    serving_gateway, api_key, baseline, hour, org, alice
) -> None:
    baseline(2)  # about 2 requests at this hour on each of the last 7 days: 5x is 10
    running, row = serving_gateway()
    secret = api_key[1]
    endpoint_create(
        membership=org.memberships.get(user=alice), url="https://hooks.example.com/p", event_types=["usage.anomaly"]
    )

    assert _through(running, row, [secret] * (SPIKE_MIN - 1)) == [200] * (SPIKE_MIN - 1)
    detect()
    assert not Flag.objects.exists()  # 29 requests: over 5x the baseline, under the minimum

    _through(running, row, [secret])
    detect()
    [flag] = Flag.objects.all()
    assert (flag.rule, flag.key_id, flag.hour) == ("traffic_spike", api_key[0].pk, hour)
    assert flag.observed == SPIKE_MIN and flag.baseline == 2.0

    detect()  # the next beat
    _through(running, row, [secret] * 5)
    detect()  # more of the spike in the same hour
    assert Flag.objects.count() == 1
    assert Event.objects.filter(type="usage.anomaly").count() == 1
    notifications_send_due()
    assert [m.to for m in mail.outbox if "Traffic spike" in m.subject] == [[alice.email]]


@override_settings(PORTICO_ANOMALY_INVALID_KEY_MIN=12)
def test_an_invalid_key_flood_throttled_by_the_gateway_is_flagged_per_client_address(
    serving_gateway, api_key, hour
) -> None:
    running, row = serving_gateway(extra=["--invalid-key-limit", "5", "--invalid-key-window", "60"])
    assert _through(running, row, [f"garbage-{n}" for n in range(11)]) == [401] * 5 + [429] * 6
    detect()
    assert not Flag.objects.exists()  # 11 answers: one short

    _through(running, row, ["garbage-11"])
    detect()
    detect()
    [flag] = Flag.objects.all()
    assert (flag.rule, flag.client_ip, flag.observed) == ("invalid_key_burst", "127.0.0.1", 12)
    assert flag.hour == hour
