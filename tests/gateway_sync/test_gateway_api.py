"""/gateway/v1/config, /changes and /heartbeat as the gateway protocol (docs/gateway-protocol.md §2-4) describes."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from gateway_sync.models import ConfigChange, Gateway
from gateway_sync.selectors import current_version
from gateway_sync.services import feed_prune, gateway_error_record
from gateway_sync.snapshot import build_snapshot
from keys import tokens
from keys.services import key_issue, key_revoke
from tests.api.conftest import assert_problem
from tests.support.responses import streamed_json, streamed_text

pytestmark = pytest.mark.django_db


def test_config_is_the_snapshot_at_the_current_version_with_an_etag(gateway_api, api_key):
    key, secret = api_key
    response = gateway_api.get("/gateway/v1/config")
    assert response.status_code == 200 and response.streaming
    text = streamed_text(response)
    body = json.loads(text)
    assert body["version"] == current_version() and response["ETag"] == f'"{current_version()}"'
    assert [k["digest"] for k in body["keys"]] == [tokens.digest(secret)]
    assert secret not in text and "client_secret" not in text


def test_config_streams_the_keys_last_one_per_line_as_the_gateway_loads_them(gateway_api, application, alice):
    issued = [key_issue(actor=alice, application=application, name=f"k{n}")[0] for n in range(3)]
    lines = streamed_text(gateway_api.get("/gateway/v1/config")).splitlines()

    assert lines[0].endswith('"keys":[') and json.loads(lines[0] + "]}")["keys"] == []
    assert lines[-1] == "]}"
    assert sorted(json.loads(line.rstrip(","))["digest"] for line in lines[1:-1]) == sorted(k.digest for k in issued)
    assert json.loads("\n".join(lines)) == build_snapshot(version=current_version())


def test_config_answers_304_until_the_version_moves(gateway_api, api_key, alice, application):
    etag = gateway_api.get("/gateway/v1/config")["ETag"]
    unchanged = gateway_api.get("/gateway/v1/config", HTTP_IF_NONE_MATCH=etag)
    assert unchanged.status_code == 304 and unchanged["ETag"] == etag and unchanged.content == b""
    key_issue(actor=alice, application=application, name="another")
    assert gateway_api.get("/gateway/v1/config", HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_config_costs_the_same_queries_for_many_keys(
    gateway_api, application, subscription, alice, settings, django_assert_max_num_queries
):
    settings.PORTICO_MAX_ACTIVE_KEYS_PER_APPLICATION = 100
    streamed_text(gateway_api.get("/gateway/v1/config"))  # warm: token and application lookups
    with django_assert_max_num_queries(14) as few:  # the snapshot's 11 (test_snapshot.py) and the token's
        streamed_text(gateway_api.get("/gateway/v1/config"))
    for index in range(40):
        key_issue(actor=alice, application=application, name=f"k{index}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        body = streamed_json(gateway_api.get("/gateway/v1/config"))
    assert len(body["keys"]) == 40


def test_changes_come_in_version_order_from_after(gateway_api, api_key, alice, application):
    start = current_version()
    issued, _ = key_issue(actor=alice, application=application, name="new")
    key_revoke(actor=alice, key=api_key[0])
    body = gateway_api.get(f"/gateway/v1/changes?after={start}").json()
    assert body["from"] == start and body["to"] == current_version() == start + 2
    assert [(c["version"], c["kind"], c["op"], c["id"]) for c in body["changes"]] == [
        (start + 1, "key", "upsert", issued.digest),
        (start + 2, "key", "delete", api_key[0].digest),
    ]


def test_nothing_new_is_an_empty_list_at_the_current_version(gateway_api, api_key):
    now = current_version()
    assert gateway_api.get(f"/gateway/v1/changes?after={now}").json() == {"from": now, "to": now, "changes": []}


def test_changes_are_paged_and_to_is_the_last_version_included(gateway_api, api_key, alice, application, settings):
    settings.PORTICO_FEED_PAGE_SIZE = 2
    settings.PORTICO_MAX_ACTIVE_KEYS_PER_APPLICATION = 100
    start = current_version()
    for index in range(5):
        key_issue(actor=alice, application=application, name=f"k{index}")
    seen, after = [], start
    while True:
        page = gateway_api.get(f"/gateway/v1/changes?after={after}").json()
        if not page["changes"]:
            break
        assert len(page["changes"]) <= 2 and page["to"] == page["changes"][-1]["version"]
        seen += [c["version"] for c in page["changes"]]
        after = page["to"]
    assert seen == list(range(start + 1, start + 6))


@pytest.mark.parametrize("after", ["", "abc", "-1", "1.5", "1e3", "9" * 40])
def test_after_must_be_a_non_negative_integer(gateway_api, after):
    body = assert_problem(gateway_api.get(f"/gateway/v1/changes?after={after}"), 400)
    assert "after" in body["errors"]


def test_changes_older_than_the_retained_feed_answer_410(gateway_api, api_key, alice, application, settings):
    start = current_version()
    for index in range(3):
        key_issue(actor=alice, application=application, name=f"k{index}")
    ConfigChange.objects.update(created_at=timezone.now() - timedelta(days=8))
    key_issue(actor=alice, application=application, name="fresh")
    settings.PORTICO_FEED_RETENTION_MIN_VERSIONS = 1
    assert feed_prune() == start + 3  # every expired change; the newest one stays
    assert_problem(gateway_api.get(f"/gateway/v1/changes?after={start}"), 410)
    assert gateway_api.get(f"/gateway/v1/changes?after={start + 3}").json()["to"] == start + 4


def test_pruning_keeps_the_newest_versions_however_old(api_key, settings):
    ConfigChange.objects.update(created_at=timezone.now() - timedelta(days=30))
    settings.PORTICO_FEED_RETENTION_MIN_VERSIONS = 100
    assert feed_prune() == 0


def test_a_version_from_another_database_moves_the_feed_past_it_and_answers_410(gateway_api, api_key):
    body = assert_problem(gateway_api.get("/gateway/v1/changes?after=1763900000"), 410)
    assert "not from this feed" in body["detail"]
    assert current_version() == 1763900001
    assert streamed_json(gateway_api.get("/gateway/v1/config"))["version"] == 1763900001  # newer than what it holds


def test_heartbeat_records_version_counters_and_the_latest_error(gateway_api, edge):
    response = gateway_api.post(
        "/gateway/v1/heartbeat",
        {"name": "edge-1", "version": 5, "counters": {"requests": 10}, "future_field": 1,
         "errors": [{"at": 1732356000.1, "error": "old"}, {"at": 1732356009.5, "error": "token: timeout"}]},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 204
    gateway = Gateway.objects.get(pk=edge.gateway.pk)
    assert gateway.applied_version == 5 and gateway.counters == {"requests": 10}
    assert gateway.last_error == "gateway: token: timeout" and gateway.last_heartbeat_at is not None


def test_heartbeat_alarms_are_kept_until_a_heartbeat_without_them(gateway_api, edge):
    def heartbeat(alarms):
        body = {"name": "edge-1", "version": 1, "counters": {}, "errors": [], "alarms": alarms}
        assert gateway_api.post("/gateway/v1/heartbeat", body, content_type="application/json").status_code == 204
        return Gateway.objects.get(pk=edge.gateway.pk).alarms

    full = heartbeat({"keys_not_held": 12, "persist_error": "x" * 900, "persist_error_at": 1732356000.5})
    assert full["keys_not_held"] == 12 and full["persist_error"] == "x" * 500
    assert heartbeat({}) == {}
    assert_problem(gateway_api.post(
        "/gateway/v1/heartbeat", {"name": "edge-1", "alarms": {"keys_not_held": -1}}, content_type="application/json"
    ), 400)  # fmt: skip


def test_heartbeat_body_is_validated(gateway_api):
    assert_problem(gateway_api.post("/gateway/v1/heartbeat", {"version": "x"}, content_type="application/json"), 400)
    assert_problem(gateway_api.post("/gateway/v1/heartbeat", b"{", content_type="application/json"), 400)


def test_a_start_up_error_is_cleared_once_the_gateway_reaches_the_platform_again(gateway_api, edge):
    def heartbeat(errors):
        body = {"name": "edge-1", "version": 1, "counters": {}, "errors": errors}
        assert gateway_api.post("/gateway/v1/heartbeat", body, content_type="application/json").status_code == 204
        return Gateway.objects.get(pk=edge.gateway.pk)

    started = timezone.now().timestamp() - 5
    refused = [{"at": started, "error": "config: connection refused"}]
    first = heartbeat(refused)  # the portal was still starting when the gateway first tried
    assert first.last_error == "gateway: config: connection refused"
    assert first.last_error_source == "gateway" and first.last_error_at.timestamp() == pytest.approx(started)
    assert heartbeat(refused).last_error == ""  # reported again, nothing new since the last heartbeat: over
    later = [*refused, {"at": timezone.now().timestamp(), "error": "token: timeout"}]
    assert heartbeat(later).last_error == "gateway: token: timeout"  # a new one is news


def test_a_push_error_is_cleared_by_the_next_push_that_works(edge):
    from gateway_sync.services import PushResult, _record_push

    gateway = Gateway.objects.get(pk=edge.gateway.pk)
    _record_push(gateway, PushResult(gateway.pk, "failed", error="push failed: ConnectionError"), timezone.now())
    assert Gateway.objects.get(pk=gateway.pk).last_error_source == "push"
    gateway_error_record(gateway_id=gateway.pk, error="reading logs failed")  # another channel's error ...
    _record_push(gateway, PushResult(gateway.pk, "applied", 3), timezone.now())
    assert Gateway.objects.get(pk=gateway.pk).last_error == "reading logs failed"  # ... stays until it works
    _record_push(gateway, PushResult(gateway.pk, "failed", error="push answered 401"), timezone.now())
    _record_push(gateway, PushResult(gateway.pk, "applied", 4), timezone.now())
    assert Gateway.objects.get(pk=gateway.pk).last_error == ""
