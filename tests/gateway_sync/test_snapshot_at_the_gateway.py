"""The snapshot the platform builds is what a real gateway enforces (platform DB -> JSON -> NGINX/Lua)."""

from gateway_sync.models import ConfigChange
from gateway_sync.snapshot import build_snapshot
from keys.services import key_issue, key_revoke, key_update
from keys.services.clients import oauth_client_revoke
from tests.support.oauth import token_for


def test_gateway_enforces_the_platform_snapshot(api, api_key, alice, application, start_gateway, upstream) -> None:
    api.upstream_url = upstream
    api.save()
    key, secret = api_key
    fenced, fenced_secret = key_issue(actor=alice, application=application, name="office only")
    key_update(actor=alice, key=fenced, allowed_cidrs=["10.0.0.0/8"])
    revoked, revoked_secret = key_issue(actor=alice, application=application, name="old")
    key_revoke(actor=alice, key=revoked)

    gateway = start_gateway(build_snapshot(version=1))

    allowed = gateway.get("/weather/forecast", key=secret)
    assert allowed.status_code == 200, allowed.text
    echoed = allowed.json()
    assert echoed["path"] == "/forecast"
    assert echoed["headers"]["x-portico-application"] == str(application.pk)
    assert echoed["headers"]["x-portico-key-prefix"] == key.prefix
    assert "x-api-key" not in echoed["headers"]
    assert gateway.get("/weather/forecast", key=revoked_secret).status_code == 401
    assert gateway.get("/weather/forecast", key=fenced_secret).status_code == 403
    assert gateway.get("/weather/forecast").status_code == 401


def test_todays_gateway_takes_the_oauth_snapshot_member_and_deltas_in_its_stride(
    api, api_key, alice, application, oauth_client, start_gateway, upstream
) -> None:
    """Until gateways verify JWTs (a later slice), the OAuth state must not disturb them: the snapshot member and
    the three new delta kinds are ignored, and key changes around them still apply."""
    api.upstream_url = upstream
    api.save()
    key, secret = api_key
    token_for(oauth_client)  # creates the signing key: the snapshot's oauth member is not empty
    snapshot = build_snapshot(version=1)
    assert snapshot["oauth"]["jwks"]["keys"]
    gateway = start_gateway(snapshot)
    assert gateway.get("/weather/forecast", key=secret).status_code == 200
    start = ConfigChange.objects.order_by("-version").values_list("version", flat=True).first() or 0
    oauth_client_revoke(actor=alice, client=oauth_client[0])
    key_revoke(actor=alice, key=key)
    changes = [c.as_delta() for c in ConfigChange.objects.filter(version__gt=start)]
    assert {c["kind"] for c in changes} == {"oauth_client", "oauth_token", "key"}
    renumbered = [{**c, "version": 1 + index} for index, c in enumerate(changes, start=1)]
    response = gateway.push(renumbered, 1, 1 + len(renumbered))
    assert response.status_code in (200, 204), response.text
    assert gateway.get("/weather/forecast", key=secret).status_code == 401  # the key delta after them applied
