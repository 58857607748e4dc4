"""Changes reach real gateways: pushed by a real Celery worker, repaired by reconcile, pulled when all else fails.

Each test runs a live portal (pytest-django's live_server), a real nginx+Lua gateway pulling from it with its
OAuth2 credentials, and where the push path is under test a real `celery -A config worker` on a private Redis.
"""

from __future__ import annotations

import json
import logging
import time

import pytest
import redis
import requests
from django.db import transaction

from gateway_sync import secrets
from gateway_sync.admin_client import signature_headers
from gateway_sync.models import Gateway
from gateway_sync.selectors import current_version
from gateway_sync.services import gateways_push, gateways_reconcile
from gateway_sync.tasks import enqueue_push
from keys.services import access_token_issue, key_issue, key_revoke
from portal.models import Api
from tests.support.celery_broker import point_celery_at
from tests.support.ports import free_port
from tests.support.registration import register
from tests.support.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def routed(api, upstream):
    """The `api` fixture, routed to the demo upstream."""
    Api.objects.filter(pk=api.pk).update(upstream_url=upstream)
    return api


@pytest.fixture
def dead_broker():
    """Publishing goes to a port nobody listens on, as when Redis is down."""
    from config.celery import app

    previous = app.conf.broker_url
    point_celery_at(f"redis://127.0.0.1:{free_port()}/0")
    yield
    point_celery_at(previous)


def _revoke(live_server, user, key) -> requests.Response:
    _, pat = access_token_issue(user=user, name="ops")
    return requests.post(
        f"{live_server.url}/api/v1/keys/{key.pk}/revoke/", headers={"Authorization": f"Bearer {pat}"}, timeout=10
    )


def test_a_revoked_key_is_refused_at_the_gateway_within_a_second(
    celery_worker, gateway_for, live_server, routed, api_key, alice
):
    gateway, _ = gateway_for(poll_interval=30)  # polling too slow to matter: only the push can make it
    key, secret = api_key
    assert gateway.get("/weather/x", secret).status_code == 200

    started = time.monotonic()
    assert _revoke(live_server, alice, key).status_code == 200
    wait_until(lambda: gateway.get("/weather/x", secret).status_code == 401, timeout=1.0, interval=0.01)
    assert time.monotonic() - started < 1.0
    wait_until(lambda: Gateway.objects.get(name="edge-1").applied_version == current_version(), timeout=5)


def test_reconcile_repairs_a_gateway_that_missed_a_push(dead_broker, gateway_for, routed, api_key, alice, application):
    gateway, registered = gateway_for(poll_interval=30)
    issued, new_secret = key_issue(actor=alice, application=application, name="new")  # the push is lost
    assert gateway.get("/weather/x", new_secret).status_code == 401
    assert Gateway.objects.get(pk=registered.pk).applied_version < current_version()

    [result] = gateways_reconcile()

    assert result.status == "applied" and result.version == current_version()
    assert gateway.get("/weather/x", new_secret).status_code == 200
    assert Gateway.objects.get(pk=registered.pk).applied_version == current_version()


def test_with_the_broker_down_a_revoke_succeeds_and_the_gateway_converges_by_polling(
    dead_broker, gateway_for, live_server, routed, api_key, alice
):
    gateway, _ = gateway_for(poll_interval=0.5)
    key, secret = api_key
    assert gateway.get("/weather/x", secret).status_code == 200

    started = time.monotonic()
    response = _revoke(live_server, alice, key)
    assert response.status_code == 200 and time.monotonic() - started < 1.0
    wait_until(lambda: gateway.get("/weather/x", secret).status_code == 401, timeout=3)


def test_a_gateway_restarted_with_the_control_plane_down_serves_its_last_config(
    dead_broker, gateway_for, routed, api_key, alice, application
):
    gateway, _ = gateway_for(poll_interval=30)
    revoked, revoked_secret = api_key
    key_revoke(actor=alice, key=revoked)
    kept, kept_secret = key_issue(actor=alice, application=application, name="kept")
    gateways_push()  # delivered as a delta, journaled next to the persisted snapshot
    assert gateway.get("/weather/x", kept_secret).status_code == 200

    dead = f"http://127.0.0.1:{free_port()}"
    for flag, url in (("--config-url", dead + "/gateway/v1/config"), ("--token-url", dead + "/o/token/")):
        gateway.args[gateway.args.index(flag) + 1] = url
    gateway.restart()

    assert gateway.status()["config"]["version"] == current_version()
    assert gateway.get("/weather/x", kept_secret).status_code == 200
    assert gateway.get("/weather/x", revoked_secret).status_code == 401


def test_pushes_are_signed_and_the_gateway_refuses_replays_and_forgeries(dead_broker, gateway_for, routed, api_key):
    gateway, registered = gateway_for(poll_interval=30)
    version = current_version()
    body = json.dumps({"from": version, "to": version + 1, "changes": []}).encode()
    secret = secrets.decrypt(Gateway.objects.get(pk=registered.pk).push_secret_encrypted)
    headers = signature_headers(secret, "POST", "/_portico/config", body)
    url = gateway.admin_url + "/_portico/config"
    post = lambda h: requests.post(url, data=body, headers={**h, "Content-Type": "application/json"}, timeout=5)  # noqa: E731
    assert post(headers).status_code == 200
    assert post(headers).status_code == 401  # the same nonce again: a replay
    assert post({}).status_code == 401
    assert post(signature_headers("not-the-secret", "POST", "/_portico/config", body)).status_code == 401


def test_a_gateway_with_the_wrong_push_secret_is_reported_and_does_not_hold_up_the_others(
    dead_broker, gateway_for, routed, api_key, alice, application
):
    good, good_row = gateway_for("edge-1", poll_interval=30)
    bad, bad_row = gateway_for("edge-2", poll_interval=30)
    unreachable = register("edge-3", f"http://127.0.0.1:{free_port()}")
    Gateway.objects.filter(pk=bad_row.pk).update(push_secret_encrypted=secrets.encrypt("wrong"))
    _, new_secret = key_issue(actor=alice, application=application, name="new")

    results = {r.gateway_id: r for r in gateways_push()}

    assert results[good_row.pk].status == "applied" and good.get("/weather/x", new_secret).status_code == 200
    assert results[bad_row.pk].failed and "401" in results[bad_row.pk].error
    assert results[unreachable.gateway.pk].failed
    rows = {g.name: g for g in Gateway.objects.all()}
    assert "admin-unauthorized" in rows["edge-2"].last_error
    assert rows["edge-3"].health == Gateway.Health.UNREACHABLE
    assert rows["edge-1"].applied_version == current_version()


def test_enqueueing_with_the_broker_down_never_raises_nor_logs_the_broker_url(dead_broker, caplog):
    with caplog.at_level(logging.WARNING, logger="gateway_sync.tasks"):
        started = time.monotonic()
        enqueue_push()
        enqueue_push()  # backs off: no second wait on a dead broker
    assert time.monotonic() - started < 1.0
    [warning] = [r.getMessage() for r in caplog.records if "enqueue" in r.getMessage()]
    assert "redis://" not in warning and "127.0.0.1" not in warning


def test_a_transaction_recording_many_changes_asks_the_workers_for_one_push(
    broker, alice, application, subscription, django_capture_on_commit_callbacks
):
    queue = redis.Redis.from_url(broker)
    queue.delete("celery")
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            for name in ("one", "two", "three"):
                key_issue(actor=alice, application=application, name=name)
    assert queue.llen("celery") == 1

    with pytest.raises(RuntimeError), django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            key_issue(actor=alice, application=application, name="rolled back")
            raise RuntimeError
    assert queue.llen("celery") == 1  # nothing committed, nothing asked

    with django_capture_on_commit_callbacks(execute=True):
        key_issue(actor=alice, application=application, name="after the rollback")
    assert queue.llen("celery") == 2
