"""Each rule on PostgreSQL, from the hour rollups ingest writes: the 7-day baseline of the same hour, the edges of
the documented thresholds (more than 5x the baseline and at least 1,000 requests; a rate of at least 20% of at
least 100 requests and over 5x the 7-day rate), and one flag per key and hour whatever rules it breaks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from analytics.models import UsageRollup
from anomalies.models import Flag
from anomalies.services import anomalies_detect


def _detect(hour):
    """Detection as the beat runs it, half-way through the hour examined."""
    return anomalies_detect(now=hour + timedelta(minutes=30))


@pytest.mark.parametrize(("requests", "flagged"), [(5000, False), (5001, True)])
def test_a_key_is_flagged_only_above_five_times_its_baseline_for_that_hour(
    baseline, hour_rollup, hour, requests, flagged
) -> None:
    baseline(1000)  # 1,000 at this hour on each of the last 7 days: 5x is 5,000
    hour_rollup(hour, requests)
    found = _detect(hour)
    expected = [("traffic_spike", requests, 1000.0)] if flagged else []
    assert [(f.rule, f.observed, f.baseline) for f in found] == expected


@pytest.mark.parametrize(("requests", "flagged"), [(999, False), (1000, True)])
def test_a_key_without_history_needs_at_least_the_minimum_number_of_requests(
    hour_rollup, hour, api_key, requests, flagged
) -> None:
    hour_rollup(hour, requests)
    found = _detect(hour)
    assert [(f.rule, f.key_id, f.subject) for f in found] == (
        [("traffic_spike", api_key[0].pk, f"key:{api_key[0].pk}")] if flagged else []
    )


def test_the_baseline_is_the_same_hour_of_the_seven_days_before_and_nothing_else(hour_rollup, hour) -> None:
    # Busy other hours, the busy hour eight days ago and the hour itself of other days do not raise the baseline.
    for days in range(1, 8):
        hour_rollup(hour - timedelta(days=days), 300)
        hour_rollup(hour - timedelta(days=days, hours=1), 90_000)
        hour_rollup(hour - timedelta(days=days) + timedelta(hours=1), 90_000)
    hour_rollup(hour - timedelta(days=8), 900_000)
    hour_rollup(hour, 1501)  # more than 5 x 300
    [flag] = _detect(hour)
    assert flag.rule == "traffic_spike" and flag.baseline == 300.0
    assert flag.details == {"requests": 1501, "baseline_requests": 300.0}


def test_the_previous_hour_is_examined_too_since_its_last_logs_arrive_after_it_ends(hour_rollup, hour) -> None:
    hour_rollup(hour - timedelta(hours=1), 2000)
    [flag] = _detect(hour)
    assert flag.hour == hour - timedelta(hours=1)


def test_traffic_without_a_key_is_never_a_key_flag(hour, api_key) -> None:
    UsageRollup.objects.create(
        granularity="hour", bucket=hour, organisation_id=0, application_id=0, key_id=0, api_id=0, status_class=4,
        requests=50_000,
    )  # fmt: skip
    assert _detect(hour) == []


@pytest.mark.parametrize(
    ("requests", "errors", "week_errors_per_day", "flagged"),
    [
        (100, 20, 1, True),  # 20% of 100, against 1 in 1,000 (0.1%)
        (100, 19, 1, False),  # 19%: under the 20% threshold
        (99, 30, 1, False),  # too few requests to judge a rate
        (100, 20, 39, True),  # 7-day rate 3.9%: 20% is more than 5x that
        (100, 20, 40, False),  # 7-day rate 4%: 20% is exactly 5x, not more
    ],
)
def test_an_error_rate_jump_needs_enough_requests_the_threshold_and_five_times_the_week_rate(
    baseline, hour_rollup, hour, requests, errors, week_errors_per_day, flagged
) -> None:
    baseline(1000, errors=week_errors_per_day)
    hour_rollup(hour, requests, errors=errors)
    found = _detect(hour)
    assert [f.rule for f in found] == (["error_rate"] if flagged else [])
    if flagged:
        assert found[0].details["rate"] == errors / requests
        assert found[0].details["baseline_rate"] == week_errors_per_day / 1000


def test_a_denial_rate_jump_is_flagged_like_errors(baseline, hour_rollup, hour) -> None:
    baseline(1000, denied=10)  # 1% denied over the week
    hour_rollup(hour, 400, denied=200)  # 50% denied in this hour
    [flag] = _detect(hour)
    assert flag.rule == "denial_rate"
    assert flag.details == {"requests": 400, "count": 200, "rate": 0.5, "baseline_rate": 0.01}


def test_a_key_breaking_several_rules_in_one_hour_gets_one_flag_and_a_rerun_adds_none(
    hour_rollup, hour, api_key
) -> None:
    hour_rollup(hour, 3000, errors=1500)  # a spike with half of it failing
    [flag] = _detect(hour)
    assert flag.rule == "traffic_spike"
    assert _detect(hour) == []
    assert anomalies_detect(now=timezone.now()) == []
    hour_rollup(hour, 3000)  # more traffic in the same hour: still the one flag
    assert _detect(hour) == []
    assert Flag.objects.count() == 1
    # The next hour is a new hour: it may be flagged again.
    hour_rollup(hour + timedelta(hours=1), 3000)
    assert [f.hour for f in anomalies_detect(now=hour + timedelta(hours=1, minutes=5))] == [hour + timedelta(hours=1)]


def test_a_deleted_keys_rollups_raise_nothing(hour_rollup, hour, api_key) -> None:
    hour_rollup(hour, 3000)
    api_key[0].application.delete()  # rollups outlive applications and keys
    assert _detect(hour) == []


def test_an_oauth_clients_spike_is_flagged_for_the_client_and_emailed_naming_it(hour, oauth_client, subscription):
    from django.core import mail

    from notifications.services import notifications_send_due

    client, _ = oauth_client
    for days in range(1, 8):  # the client's own baseline: 200 at this hour, from its access tokens
        UsageRollup.objects.create(
            granularity="hour", bucket=hour - timedelta(days=days), organisation_id=client.application.organisation_id,
            application_id=client.application_id, key_id=0, client_id=client.pk, api_id=subscription.api_id,
            status_class=2, requests=200,
        )  # fmt: skip
    UsageRollup.objects.create(
        granularity="hour", bucket=hour, organisation_id=client.application.organisation_id,
        application_id=client.application_id, key_id=0, client_id=client.pk, api_id=subscription.api_id,
        status_class=2, requests=1001,
    )  # fmt: skip

    [flag] = _detect(hour)

    assert (flag.rule, flag.subject, flag.oauth_client_id, flag.key_id) == (
        "traffic_spike", f"client:{client.pk}", client.pk, None,
    )  # fmt: skip
    assert flag.application_id == client.application_id
    notifications_send_due()
    assert any(f"OAuth client {client.name}" in m.body for m in mail.outbox)
