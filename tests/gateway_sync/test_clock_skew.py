"""Pushes and heartbeats with a gateway whose clock is off by minutes (a real nginx under libfaketime)."""

from __future__ import annotations

import time

import pytest

from config.celery import app as celery_app
from gateway_sync.models import Gateway
from gateway_sync.secrets import decrypt
from gateway_sync.services import gateways_push
from keys.services import key_issue
from portal.models import Api
from tests.support.celery_broker import point_celery_at
from tests.support.ports import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

SKEW = 300  # seconds: five minutes, five times the freshness window of signed admin requests


@pytest.fixture
def lost_pushes():
    """Enqueued pushes go to a port nobody listens on: only the test's own push reaches the gateway."""
    previous = celery_app.conf.broker_url
    point_celery_at(f"redis://127.0.0.1:{free_port()}/0")
    yield
    point_celery_at(previous)


@pytest.mark.parametrize("skew", [SKEW, -SKEW], ids=["ahead", "behind"])
def test_a_gateway_off_by_five_minutes_reports_its_offset_and_takes_pushes(
    skew, lost_pushes, gateway_for, api, upstream, alice, application, subscription
) -> None:
    Api.objects.filter(pk=api.pk).update(upstream_url=upstream)
    running, row = gateway_for(poll_interval=30, clock_shift=skew)  # polls too slowly to matter: pushes must work
    wait_until(lambda: Gateway.objects.get(pk=row.pk).clock_offset is not None, timeout=5)  # a heartbeat a second
    assert abs(Gateway.objects.get(pk=row.pk).clock_offset - skew) < 2

    Gateway.objects.filter(pk=row.pk).update(clock_offset=None)  # unknown: the refusal's Date must teach it
    _, secret = key_issue(actor=alice, application=application, name="new")
    [result] = gateways_push(gateway_ids=[row.pk])

    assert result.status == "applied", result.error
    assert running.get("/weather/x", secret).status_code == 200
    assert abs(Gateway.objects.get(pk=row.pk).clock_offset - skew) < 2


def test_the_gateway_still_refuses_requests_stamped_in_the_platforms_time(gateway_for) -> None:
    """Compensating on the platform's side keeps the gateway's window narrow: a request 5 minutes old is stale."""
    running, row = gateway_for(poll_interval=30, clock_shift=SKEW)
    secret, path = decrypt(row.push_secret_encrypted), "/_portico/logs?after=0&limit=1"
    stale = running.signed("GET", path, secret=secret, ts=int(time.time()))
    assert stale.status_code == 401 and stale.json()["reason"] == "stale or malformed timestamp"
    assert running.signed("GET", path, secret=secret).status_code == 200
