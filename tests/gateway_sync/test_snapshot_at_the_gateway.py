"""The snapshot the platform builds is what a real gateway enforces (platform DB -> JSON -> NGINX/Lua)."""

from gateway_sync.snapshot import build_snapshot
from keys.services import key_issue, key_revoke, key_update


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
