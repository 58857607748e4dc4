"""Test mode end to end (issue #15): the platform's API sandbox, plan test limits and test keys, streamed as the
platform streams them, are what a real gateway enforces; live key lines stay the ones its fast path cuts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway_sync.snapshot import build_snapshot, snapshot_chunks
from keys.models import ApiKey
from keys.services import key_issue
from tests.support.fake_platform import Platform
from tests.support.gateway import start_upstream
from tests.support.ports import free_port

# the gateway's PLAIN_KEY pattern (gateway/lua/portico/snapshot.lua) in Python: the lines its fast path takes
PLAIN_KEY = re.compile(
    r'^\{"digest":"[0-9a-f]{64}","prefix":"[^"\\]*","application_id":\d+,"organisation_id":\d+,"status":"active",'
    r'"expires_at":(null|\d+),"api_ids":\[[\d,]*\],"allowed_cidrs":\[\]\},?$'
)


@pytest.fixture
def platform() -> Iterator[Platform]:
    p = Platform()
    yield p
    p.stop()


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[str]:
    listen = f"127.0.0.1:{free_port()}"
    proc = start_upstream(listen, tmp_path / "sandbox-rt")
    yield f"http://{listen}/sandbox"
    proc.stop()


def _key_lines(text: str) -> dict[str, str]:
    """The streamed snapshot's key lines by prefix."""
    lines = text.split("\n")[1:]
    return {json.loads(line.rstrip(","))["prefix"]: line for line in lines if line.startswith('{"digest"')}


def test_the_gateway_routes_and_limits_the_platforms_test_keys(
    api: Any, free_plan: Any, application: Any, subscription: Any, alice: Any, upstream: str, sandbox: str,
    platform: Platform, start_gateway: Any,
) -> None:  # fmt: skip
    api.upstream_url, api.sandbox_upstream_url = upstream, sandbox
    api.save()
    free_plan.quota_per_day, free_plan.test_quota_per_day = 100, 2
    free_plan.save()
    live, live_secret = key_issue(actor=alice, application=application, name="live")
    test, test_secret = key_issue(actor=alice, application=application, name="t", environment=ApiKey.Environment.TEST)

    text = "".join(snapshot_chunks(version=1))
    lines = _key_lines(text)
    assert PLAIN_KEY.match(lines[live.prefix])
    assert not PLAIN_KEY.match(lines[test.prefix])
    assert lines[test.prefix].rstrip(",").endswith(',"environment":"test"}')
    platform.snapshot, platform.snapshot_text = {"version": 1}, text  # the platform's own stream, served as is
    gateway = start_gateway(extra=platform.args())

    assert gateway.get("/weather/forecast", key=live_secret).json()["path"] == "/forecast"
    tested = gateway.get("/weather/forecast", key=test_secret)
    assert (tested.status_code, tested.json()["path"]) == (200, "/sandbox/forecast")
    assert tested.headers["X-Quota-Limit-Day"] == "2"
    assert gateway.get("/weather/forecast", key=test_secret).status_code == 200
    assert gateway.get("/weather/forecast", key=test_secret).status_code == 429
    live_answer = gateway.get("/weather/forecast", key=live_secret)
    assert (live_answer.status_code, live_answer.headers["X-Quota-Remaining-Day"]) == (200, "98")


def test_an_api_without_a_sandbox_refuses_the_platforms_test_keys(
    api: Any, subscription: Any, application: Any, alice: Any, upstream: str, start_gateway: Any
) -> None:
    api.upstream_url = upstream
    api.save()
    _, secret = key_issue(actor=alice, application=application, name="test", environment=ApiKey.Environment.TEST)

    gateway = start_gateway(build_snapshot(version=1))

    refused = gateway.get("/weather/forecast", key=secret)
    assert (refused.status_code, refused.json()["type"]) == (403, "https://portico.dev/problems/test-key-no-sandbox")
