"""The usage page's one pass over the rollups (analytics.selectors.page) gives the figures the single-purpose
selectors give (they still serve the REST API), for every period, narrowed to a key or an OAuth client or not."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from analytics import selectors
from analytics.models import LATENCY_FIELDS, OPERATION_NONE, OPERATION_OTHER, UsageRollup
from analytics.selectors.endpoints import outcomes_over_time, usage_by_operation
from analytics.selectors.page import usage_page
from tests.factories import ApiFactory, ApplicationFactory

NOW = datetime(2026, 11, 23, 12, 30, 15, tzinfo=UTC)
OPERATIONS = ("GET /users", "GET /users/{id}", "DELETE /users/{id}", OPERATION_OTHER, OPERATION_NONE)


@pytest.fixture
def rollups(application: Any, api: Any, api_key: Any, oauth_client: Any) -> dict[str, int]:
    """Minute, hour and day rollups of the application over two APIs (one deleted), its key, an unknown key, its
    OAuth client and key-less traffic, every status class; and a neighbour's rollups in the same buckets."""
    rng = random.Random(13)
    key, client = api_key[0].pk, oauth_client[0].pk
    other_api = ApiFactory(name="Maps", slug="maps", path_prefix="/maps")
    neighbour = ApplicationFactory(organisation=application.organisation, name="Neighbour")
    rows = []
    for granularity, step, count in (("minute", timedelta(minutes=1), 90), ("hour", timedelta(hours=1), 30),
                                     ("day", timedelta(days=1), 35)):  # fmt: skip
        last = selectors.floor_to(NOW, granularity)
        for n in range(count):
            bucket = last - n * step
            for app_id, key_id, client_id in ((application.pk, key, 0), (application.pk, 0, client),
                                              (application.pk, key + 999, 0), (neighbour.pk, 0, 0)):  # fmt: skip
                for api_id in (api.pk, other_api.pk, 987_654):
                    for operation in rng.sample(OPERATIONS, 2):
                        for status_class in rng.sample((1, 2, 3, 4, 5), 3):
                            requests = rng.randint(0, 500)
                            counters = {name: rng.randint(0, requests) for name in LATENCY_FIELDS}
                            rows.append(
                                UsageRollup(
                                    granularity=granularity, bucket=bucket, organisation_id=application.organisation_id,
                                    application_id=app_id, key_id=key_id, client_id=client_id, api_id=api_id,
                                    operation=operation, status_class=status_class, requests=requests,
                                    errors=requests if status_class == 5 else 0, denied=rng.randint(0, 3),
                                    auth_failures=rng.randint(0, requests) if status_class == 4 else 0,
                                    throttled=rng.randint(0, 2) if status_class == 4 else 0,
                                    bytes_in=rng.randint(0, 10**12), bytes_out=rng.randint(0, 10**12),
                                    latency_sum_ms=rng.random() * 1000 * requests, **counters,
                                )
                            )  # fmt: skip
    UsageRollup.objects.bulk_create(rows, ignore_conflicts=True)
    return {"key": key, "client": client}


@time_machine.travel(NOW, tick=False)
def test_the_usage_page_query_gives_the_figures_of_the_separate_queries(
    application: Any, rollups: dict[str, int]
) -> None:
    for period in ("hour", "day", "month"):
        granularity, start, end = selectors.usage_window(period=period, now=NOW)
        window: dict[str, Any] = {"application": application, "granularity": granularity, "start": start, "end": end}
        for scope in ({}, {"key_id": rollups["key"]}, {"client_id": rollups["client"]}):
            page = usage_page(**window, **scope)

            assert page.usage.totals.requests > 0 and len(page.by_operation) > 3, (period, scope)
            assert page.usage == selectors.usage_for_application(**window, **scope), (period, scope)
            assert page.counts == selectors.usage_by_status_class(**window, **scope)
            assert page.outcomes == outcomes_over_time(**window, **scope)
            assert page.by_operation == usage_by_operation(**window, **scope)
            assert page.by_key == selectors.usage_by_key(**window)
            assert page.by_client == selectors.usage_by_client(**window)
            assert [k.requests > 0 for k in page.by_key] == [c.requests > 0 for c in page.by_client] == [True]
