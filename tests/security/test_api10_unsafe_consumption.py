"""API10:2023 Unsafe consumption of APIs: what gateways send the platform is input like any other.

A gateway's heartbeat (its version, counters and recent errors) is stored and shown to staff; whatever a
compromised or buggy gateway puts in it must end as a 400 problem or as clean rows, never as a 500 or a poisoned
admin page. Log batches from gateways are attacked in tests/analytics/test_hostile_records.py; snapshots and
pushes the other way (platform to gateway) in tests/gateway/.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from gateway_sync.models import Gateway
from tests.support.problems import assert_problem
from tests.support.registration import fetch_token, register

NESTING = 5_000


@pytest.fixture
def edge() -> Any:
    return register("edge-1")


@pytest.fixture
def gateway_api(db: Any, edge: Any) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {fetch_token(Client(), edge.client_id, edge.client_secret)}")


def _beat(client: Client, body: Any) -> Any:
    return client.post("/gateway/v1/heartbeat", body, content_type="application/json")


HOSTILE = [
    ("an error time past the calendar's end", {"errors": [{"at": 1e300, "error": "x"}]}),
    ("a negative error time", {"errors": [{"at": -1e20, "error": "x"}]}),
    ("NUL in an error", {"errors": [{"at": 1, "error": "a\u0000b"}]}),
    ("NUL in a counter name", {"counters": {"a\u0000b": 1}}),
    ("NUL in a counter value", {"counters": {"a": "x\u0000"}}),
    ("counters that are not numbers", {"counters": {"a": {"b": [1, 2, {"c": "d"}]}}}),
    ("a counter name of a megabyte", {"counters": {"k" * 1_000_000: 1}}),
    ("fifty thousand counters", {"counters": {f"c{n}": n for n in range(50_000)}}),
    ("a version past bigint", {"version": 2**63}),
    ("an error of a megabyte", {"errors": [{"at": 1, "error": "e" * 1_000_000}]}),
]


@pytest.mark.parametrize(("label", "fields"), HOSTILE, ids=[label for label, _ in HOSTILE])
def test_a_hostile_heartbeat_is_refused_or_stored_clean(gateway_api, edge, label, fields) -> None:
    response = _beat(gateway_api, {"name": "edge-1", **fields})
    assert response.status_code in (204, 400), (label, response.status_code)
    if response.status_code == 400:
        assert_problem(response, 400)
    gateway = Gateway.objects.get(pk=edge.gateway.pk)
    assert "\x00" not in gateway.last_error and len(gateway.last_error) <= 500
    counters = gateway.counters
    assert all(isinstance(k, str) and len(k) <= 200 and isinstance(v, int | float) for k, v in counters.items())
    assert len(counters) <= 1000


def test_deeply_nested_counters_are_a_400_not_a_500(gateway_api) -> None:
    body = '{"name": "edge-1", "counters": {"a": ' + "[" * NESTING + "]" * NESTING + "}}"
    assert_problem(_beat(gateway_api, body), 400)


def test_a_heartbeat_cannot_speak_for_another_gateway(gateway_api, edge) -> None:
    other = register("edge-2")
    assert_problem(_beat(gateway_api, {"name": "edge-2", "version": 99}), 400)
    assert Gateway.objects.get(pk=other.gateway.pk).applied_version == 0


def test_what_a_gateway_reports_is_escaped_in_the_admin(gateway_api, edge, staff_client) -> None:
    script = "<script>alert(1)</script>"
    assert _beat(gateway_api, {"name": "edge-1", "errors": [{"at": 1, "error": script}]}).status_code == 204
    page = staff_client.get(f"/admin/gateway_sync/gateway/{edge.gateway.pk}/change/").content.decode()
    assert script not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
