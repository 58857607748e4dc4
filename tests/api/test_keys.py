"""API keys: issue (secret shown once), list, read, update, rotate with grace, revoke."""

import logging
from datetime import timedelta

import time_machine
from django.utils import timezone

from keys import tokens
from keys.models import ApiKey
from keys.services import key_issue
from tests.api.conftest import assert_problem
from tests.factories import ApiFactory, PlanFactory


def test_issuing_a_key_returns_its_secret_once_and_uncacheable(bob_api, application, subscription) -> None:
    response = bob_api.post(
        f"/api/v1/applications/{application.pk}/keys/",
        {"name": "Server", "allowed_cidrs": ["10.0.0.0/8", "192.0.2.7"], "apis": ["weather"]},
        format="json",
    )
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    secret, key = body["secret"], body["key"]
    assert tokens.is_well_formed(secret, kind="live")
    assert key["masked"] == f"{secret[:16]}…{secret[-4:]}"
    assert (key["state"], key["allowed_cidrs"], key["apis"]) == ("active", ["10.0.0.0/8", "192.0.2.7/32"], ["weather"])
    stored = ApiKey.objects.get(pk=key["id"])
    assert stored.digest == tokens.digest(secret)
    for later in (
        bob_api.get(f"/api/v1/keys/{key['id']}/"),
        bob_api.get(f"/api/v1/applications/{application.pk}/keys/"),
        bob_api.patch(f"/api/v1/keys/{key['id']}/", {"name": "Renamed"}, format="json"),
        bob_api.post(f"/api/v1/keys/{key['id']}/revoke/"),
    ):
        assert later.status_code == 200
        assert secret not in later.content.decode() and stored.digest not in later.content.decode()
        assert "no-store" not in later.get("Cache-Control", "")


def test_secrets_never_reach_the_logs(alice_api, application, subscription, caplog) -> None:
    with caplog.at_level(logging.DEBUG):
        response = alice_api.post(f"/api/v1/applications/{application.pk}/keys/", {"name": "Logged"}, format="json")
        secret = response.json()["secret"]
        rotated = alice_api.post(f"/api/v1/keys/{response.json()['key']['id']}/rotate/", {"grace": "1h"}, format="json")
        token = alice_api.post("/api/v1/access-tokens/", {"name": "Logged"}, format="json")
    secrets = [secret, rotated.json()["secret"], token.json()["secret"]]
    assert len(caplog.records) >= 3, "expected the audit trail to log each issue"
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert not any(value in logged for value in secrets)


def test_a_test_key_has_a_test_prefix(alice_api, application, subscription) -> None:
    response = alice_api.post(
        f"/api/v1/applications/{application.pk}/keys/", {"name": "Sandbox", "environment": "test"}, format="json"
    )
    assert response.json()["secret"].startswith("ptc_test_")


def test_a_key_cannot_be_created_with_a_digest_or_status(alice_api, application, subscription) -> None:
    response = alice_api.post(
        f"/api/v1/applications/{application.pk}/keys/",
        {"name": "x", "digest": "0" * 64, "status": "active", "prefix": "ptc_live_aaaaaaa"},
        format="json",
    )
    assert set(assert_problem(response, 400)["errors"]) == {"digest", "status", "prefix"}
    assert not ApiKey.objects.exists()


def test_invalid_cidrs_and_unknown_apis_are_field_errors(alice_api, application, subscription) -> None:
    url = f"/api/v1/applications/{application.pk}/keys/"
    body = assert_problem(alice_api.post(url, {"name": "x", "allowed_cidrs": ["10.0.0.300/8"]}, format="json"), 400)
    assert list(body["errors"]) == ["allowed_cidrs"]
    body = assert_problem(alice_api.post(url, {"name": "x", "apis": ["no-such-api"]}, format="json"), 400)
    assert list(body["errors"]) == ["apis"]
    unsubscribed = ApiFactory(slug="maps")
    PlanFactory(api=unsubscribed)
    body = assert_problem(alice_api.post(url, {"name": "x", "apis": ["maps"]}, format="json"), 400)
    assert list(body["errors"]) == ["apis"]


def test_a_past_expiry_is_a_field_error(alice_api, application, subscription) -> None:
    yesterday = (timezone.now() - timedelta(days=1)).isoformat()
    url = f"/api/v1/applications/{application.pk}/keys/"
    assert (
        "expires_at"
        in assert_problem(alice_api.post(url, {"name": "x", "expires_at": yesterday}, format="json"), 400)["errors"]
    )


def test_the_active_key_limit_is_a_conflict(alice_api, application, subscription, settings) -> None:
    settings.PORTICO_MAX_ACTIVE_KEYS_PER_APPLICATION = 1
    url = f"/api/v1/applications/{application.pk}/keys/"
    assert alice_api.post(url, {"name": "one"}, format="json").status_code == 201
    assert assert_problem(alice_api.post(url, {"name": "two"}, format="json"), 409)["type"].endswith("limit-reached")


def test_the_key_list_has_a_fixed_query_count_and_filters(
    alice_api, alice, application, subscription, django_assert_max_num_queries, settings
) -> None:
    settings.PORTICO_MAX_ACTIVE_KEYS_PER_APPLICATION = 10
    for number in range(5):
        key_issue(actor=alice, application=application, name=f"k{number}", apis=[subscription.api])
    key_issue(actor=alice, application=application, name="sandbox", environment="test")
    url = f"/api/v1/applications/{application.pk}/keys/"
    with django_assert_max_num_queries(5):
        response = alice_api.get(url)
    assert response.json()["count"] == 6
    assert [k["name"] for k in alice_api.get(url, {"environment": "test"}).json()["results"]] == ["sandbox"]
    assert alice_api.get(url, {"status": "revoked"}).json()["count"] == 0


def test_updating_a_key_changes_name_cidrs_and_scopes(alice_api, api_key) -> None:
    key, _ = api_key
    response = alice_api.patch(
        f"/api/v1/keys/{key.pk}/",
        {"name": "Renamed", "allowed_cidrs": ["2001:db8::/32"], "apis": ["weather"]},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["allowed_cidrs"], body["apis"]) == ("Renamed", ["2001:db8::/32"], ["weather"])
    cleared = alice_api.patch(f"/api/v1/keys/{key.pk}/", {"allowed_cidrs": [], "apis": []}, format="json").json()
    assert (cleared["name"], cleared["allowed_cidrs"], cleared["apis"]) == ("Renamed", [], [])


def test_rotation_lists_both_keys_the_old_one_in_grace(bob_api, api_key, application) -> None:
    old, old_secret = api_key
    response = bob_api.post(f"/api/v1/keys/{old.pk}/rotate/", {"grace": "24h"}, format="json")
    assert response.status_code == 201 and response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["secret"] != old_secret and tokens.is_well_formed(body["secret"])
    assert body["previous"]["state"] == "grace" and body["previous"]["replaced_by"] == body["key"]["id"]
    listed = bob_api.get(f"/api/v1/applications/{application.pk}/keys/").json()["results"]
    assert {k["id"]: k["state"] for k in listed} == {body["key"]["id"]: "active", old.pk: "grace"}
    graced = bob_api.get(f"/api/v1/applications/{application.pk}/keys/", {"state": "grace"}).json()["results"]
    assert [k["id"] for k in graced] == [old.pk]
    with time_machine.travel(timezone.now() + timedelta(hours=24, seconds=1)):
        assert bob_api.get(f"/api/v1/keys/{old.pk}/").json()["state"] == "expired"


def test_rotating_now_revokes_the_old_key_at_once(alice_api, api_key) -> None:
    old, _ = api_key
    body = alice_api.post(f"/api/v1/keys/{old.pk}/rotate/", {"grace": "now", "name": "Fresh"}, format="json").json()
    assert body["previous"]["state"] == "revoked" and body["key"]["name"] == "Fresh"


def test_rotation_needs_a_known_grace_and_happens_once(alice_api, api_key) -> None:
    old, _ = api_key
    assert "grace" in assert_problem(alice_api.post(f"/api/v1/keys/{old.pk}/rotate/", {}, format="json"), 400)["errors"]
    assert_problem(alice_api.post(f"/api/v1/keys/{old.pk}/rotate/", {"grace": "30d"}, format="json"), 400)
    assert alice_api.post(f"/api/v1/keys/{old.pk}/rotate/", {"grace": "1h"}, format="json").status_code == 201
    assert_problem(alice_api.post(f"/api/v1/keys/{old.pk}/rotate/", {"grace": "1h"}, format="json"), 409)


def test_revoking_a_key_is_immediate_and_idempotent(bob_api, api_key) -> None:
    key, _ = api_key
    first = bob_api.post(f"/api/v1/keys/{key.pk}/revoke/")
    assert first.status_code == 200 and first.json()["state"] == "revoked" and first.json()["revoked_at"]
    assert bob_api.post(f"/api/v1/keys/{key.pk}/revoke/").json()["revoked_at"] == first.json()["revoked_at"]
    assert_problem(bob_api.patch(f"/api/v1/keys/{key.pk}/", {"name": "zombie"}, format="json"), 409)
    assert_problem(bob_api.post(f"/api/v1/keys/{key.pk}/rotate/", {"grace": "now"}, format="json"), 409)
