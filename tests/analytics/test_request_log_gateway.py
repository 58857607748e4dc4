"""The request log end to end: real requests through a real gateway, one collection, then found by their ids."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from analytics.tasks import collect_gateway_logs
from gateway_sync import secrets
from gateway_sync.models import Gateway
from gateway_sync.snapshot import build_snapshot
from portal.models import Plan
from tests.support.gateway import PUSH_SECRET

MAX_TRIES = 20  # requests sent to hit a one-per-second rate limit


@pytest.fixture
def limited_edge(api, subscription, upstream, start_gateway, api_key) -> tuple[Any, Gateway, Any, str]:
    """A real gateway whose plan allows one request a second, registered as a Gateway row; and alice's key."""
    api.upstream_url = upstream
    api.save()
    Plan.objects.filter(pk=subscription.plan_id).update(rate_per_second=1, rate_per_minute=None)
    running = start_gateway(build_snapshot(version=1), extra=["--log-flush-interval", "0.05"])
    row = Gateway.objects.create(
        name="edge-1", admin_url=running.admin_url, push_secret_encrypted=secrets.encrypt(PUSH_SECRET)
    )
    return running, row, api_key[0], api_key[1]


def test_a_429s_request_id_finds_that_request_after_one_collection(
    limited_edge, application, alice_api, alice_client
) -> None:
    running, row, key, secret = limited_edge
    answers = []
    for n in range(MAX_TRIES):
        answers.append(running.get(f"/weather/items/{n}?api_key_hint=s3cr3t&token=abc", key=secret))
        if answers[-1].status_code == 429:
            break
    admitted, limited = answers[0], answers[-1]
    assert (admitted.status_code, limited.status_code) == (200, 429)
    problem = limited.json()
    assert problem["type"].endswith("/rate-limited")
    request_id = problem["request_id"]
    assert request_id and limited.headers["X-Request-Id"] == request_id
    running.wait_records(len(answers))

    collect_gateway_logs(row.pk)  # one collection interval's work

    response = alice_api.get(f"/api/v1/applications/{application.pk}/requests/{request_id}/")
    assert response.status_code == 200, response.content
    event = response.json()
    assert event["status"] == 429 and event["denial_cause"] == "rate-limited" and event["limit_outcome"] == "rate"
    assert event["method"] == "GET" and event["path"] == f"/weather/items/{len(answers) - 1}"
    assert event["key"] == key.pk and event["key_prefix"] == key.prefix
    assert event["client_ip"] == "127.0.0.1" and event["latency_ms"] is not None

    log = alice_api.get(f"/api/v1/applications/{application.pk}/requests/").json()
    assert [r["request_id"] for r in log["results"]][0] == request_id
    first = next(r for r in log["results"] if r["request_id"] == admitted.headers["X-Request-Id"])
    assert (first["status"], first["denial_cause"]) == (200, "")
    denied = alice_api.get(f"/api/v1/applications/{application.pk}/requests/", {"denial_cause": "rate-limited"})
    assert [r["request_id"] for r in denied.json()["results"]] == [request_id]

    page = alice_client.get(
        reverse("analytics:application_requests", args=[application.pk]), {"request_id": request_id}
    )
    assert page.context["found"].request_id == request_id
    body = page.content.decode()
    assert "rate-limited" in body
    assert "s3cr3t" not in body and "token=" not in body and "?" not in event["path"]
    assert all("s3cr3t" not in r["path"] for r in log["results"])
