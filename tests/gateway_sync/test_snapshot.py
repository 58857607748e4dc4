from datetime import timedelta

from django.utils import timezone

from gateway_sync.snapshot import build_snapshot
from keys import tokens
from keys.services import key_issue, key_revoke, key_rotate, key_update
from portal.models import Organisation


def _digests(snapshot) -> set[str]:
    return {key["digest"] for key in snapshot["keys"]}


def test_snapshot_carries_digests_never_secrets(api_key, alice) -> None:
    key, secret = api_key
    key_update(actor=alice, key=key, allowed_cidrs=["2001:db8::/32"])
    snapshot = build_snapshot(version=7)
    assert snapshot["version"] == 7
    entry = next(k for k in snapshot["keys"] if k["digest"] == tokens.digest(secret))
    assert entry["prefix"] == secret[:16] and entry["allowed_cidrs"] == ["2001:db8::/32"]
    assert secret not in str(snapshot)
    api = snapshot["apis"][0]
    assert api["path_prefix"] == "/weather" and api["key_header"] == "X-API-Key"
    assert snapshot["subscriptions"][0]["status"] == "active"


def test_revoked_expired_and_suspended_keys_are_absent(api_key, alice, application) -> None:
    key, secret = api_key
    other, other_secret = key_issue(actor=alice, application=application, name="other")
    key_revoke(actor=alice, key=key)
    assert _digests(build_snapshot(version=1)) == {tokens.digest(other_secret)}
    Organisation.objects.filter(pk=application.organisation_id).update(status="suspended")
    assert _digests(build_snapshot(version=2)) == set()


def test_rotated_key_carries_its_grace_deadline(api_key, alice) -> None:
    old, old_secret = api_key
    key_rotate(actor=alice, key=old, grace=timedelta(hours=1))
    entry = next(k for k in build_snapshot(version=1)["keys"] if k["digest"] == tokens.digest(old_secret))
    assert abs(entry["expires_at"] - (timezone.now() + timedelta(hours=1)).timestamp()) < 5


def test_snapshot_query_count_does_not_grow_with_keys(
    application, subscription, alice, django_assert_max_num_queries, settings
) -> None:
    settings.PORTICO_MAX_ACTIVE_KEYS_PER_APPLICATION = 100
    for index in range(30):
        key_issue(actor=alice, application=application, name=f"k{index}", apis=[subscription.api])
    # APIs, their validators, redaction rules and mTLS policies, plans, subscriptions, keys and their scopes, client
    # certificates, and 3 for OAuth2
    # (the JWKS, revoked clients, revoked tokens)
    with django_assert_max_num_queries(11):
        snapshot = build_snapshot(version=1)
    assert len(snapshot["keys"]) == 30 and all(k["api_ids"] == [subscription.api_id] for k in snapshot["keys"])
