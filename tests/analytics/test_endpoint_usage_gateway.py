"""Usage by endpoint end to end: real requests through a real gateway, one collection, then counted per operation."""

from __future__ import annotations

import secrets as random_tokens

from analytics.models import UsageRollup
from analytics.tasks import collect_gateway_logs

SPEC = {"paths": {"/users": {"post": {}}, "/users/{id}": {"get": {}}, "/users/me": {"get": {}}}}


def test_paths_through_a_real_gateway_roll_up_per_operation_and_random_ones_as_other(
    serving_gateway, api, application, api_key, alice_api
) -> None:
    api.openapi_document = SPEC
    api.save()
    running, row = serving_gateway(0.05)
    secret = api_key[1]
    sent = [
        running.get("/weather/users/1", key=secret),
        running.get("/weather/users/2", key=secret),
        running.get("/weather//users/%33", key=secret),  # nginx merges slashes and decodes before routing
        running.get("/weather/users/me", key=secret),
        running.request("POST", "/weather/users", key=secret, json={"name": "x"}),
        running.request("DELETE", "/weather/users/1", key=secret),  # no such operation
    ]
    sent += [running.get(f"/weather/{random_tokens.token_urlsafe(12)}/{n}", key=secret) for n in range(25)]
    assert all(answer.status_code < 500 for answer in sent)
    running.wait_records(len(sent))

    collect_gateway_logs(row.pk)

    response = alice_api.get(f"/api/v1/applications/{application.pk}/usage/endpoints/", {"granularity": "minute"})
    assert response.status_code == 200, response.content
    counted = {r["operation"]: r["requests"] for r in response.json()["results"]}
    assert counted == {"GET /users/{id}": 3, "GET /users/me": 1, "POST /users": 1, "other": 26}
    minute_rows = UsageRollup.objects.filter(granularity="minute", application_id=application.pk)
    assert set(minute_rows.values_list("operation", flat=True)) == set(counted)
