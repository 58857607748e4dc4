"""Config snapshots and deltas in the platform's format (docs/gateway-protocol.md), for gateway tests and bench/."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from keys.tokens import DISPLAY_PREFIX_LENGTH, digest, generate


def make_key(environment: str = "live") -> str:
    """A new random API key in the platform's format (keys/tokens.py is the reference)."""
    return generate(environment).token


@dataclass
class Key:
    """A generated API key and its snapshot entry."""

    secret: str
    entry: dict[str, Any]

    @property
    def digest(self) -> str:
        return self.entry["digest"]


def key_fields(key_digest: str, prefix: str, application_id: int = 5, organisation_id: int = 2) -> dict[str, Any]:
    """A key's snapshot entry: active, no expiry, every subscribed API, any client address."""
    return {
        "digest": key_digest,
        "prefix": prefix,
        "application_id": application_id,
        "organisation_id": organisation_id,
        "status": "active",
        "expires_at": None,
        "api_ids": [],
        "allowed_cidrs": [],
    }


def key_entry(application_id: int = 5, organisation_id: int = 2, *, secret: str | None = None, **overrides: Any) -> Key:
    """An active key (a fresh one unless secret is given) for the application, with snapshot fields overridable."""
    secret = secret or make_key()
    entry = key_fields(digest(secret), secret[:DISPLAY_PREFIX_LENGTH], application_id, organisation_id)
    entry.update(overrides)
    return Key(secret, entry)


def key_entry_in_test_mode(application_id: int = 5, organisation_id: int = 2, **overrides: Any) -> Key:
    """An active test key (issue #15): a `ptc_test_` secret, its entry ending in "environment":"test"."""
    return key_entry(application_id, organisation_id, secret=make_key("test"), **overrides, environment="test")


def api_entry(upstream_url: str, id: int = 1, path_prefix: str = "/demo", **overrides: Any) -> dict[str, Any]:
    """An API published at path_prefix, proxied to upstream_url."""
    api = {
        "id": id,
        "slug": f"api{id}",
        "host": None,
        "path_prefix": path_prefix,
        "upstream_url": upstream_url,
        "strip_prefix": True,
        "methods": ["GET", "POST"],
        "max_body_bytes": 1048576,
        "key_header": "X-API-Key",
        "allow_query_key": False,
        "query_key_param": "api_key",
        "connect_timeout_ms": 2000,
        "read_timeout_ms": 10000,
        "send_timeout_ms": 10000,
    }
    api.update(overrides)
    return api


def plan_entry(id: int = 3, **overrides: Any) -> dict[str, Any]:
    """An unlimited plan unless limits are given."""
    plan = {
        "id": id,
        "rate_per_second": None,
        "rate_per_minute": None,
        "quota_per_day": None,
        "quota_per_month": None,
        "store_failure_mode": "allow",
        "quota_scope": "application",
        "rate_scope": "key",
    }
    plan.update(overrides)
    return plan


def subscription_entry(
    id: int = 7, application_id: int = 5, api_id: int = 1, plan_id: int = 3, **overrides: Any
) -> dict[str, Any]:
    """An active subscription."""
    sub = {
        "id": id,
        "application_id": application_id,
        "api_id": api_id,
        "plan_id": plan_id,
        "status": "active",
        "blocked_until": None,
        "blocked_reason": None,
    }
    sub.update(overrides)
    return sub


def snapshot(
    version: int,
    apis: list[dict[str, Any]],
    plans: list[dict[str, Any]] | None = None,
    subscriptions: list[dict[str, Any]] | None = None,
    keys: list[Key] | None = None,
    generated_at: str | None = "2026-11-23T10:00:00Z",
    oauth: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A full config snapshot in the platform's format (`oauth`: tests/support/jwt_tokens.py oauth_member)."""
    doc = {
        "version": version,
        "generated_at": generated_at,
        "apis": apis,
        "plans": plans if plans is not None else [plan_entry()],
        "subscriptions": subscriptions if subscriptions is not None else [subscription_entry()],
        "keys": [k.entry for k in keys or []],
    }
    if oauth is not None:
        doc["oauth"] = oauth
    return doc


def streamed(doc: dict[str, Any]) -> str:
    """A snapshot in the layout the platform streams (gateway_sync.snapshot.snapshot_chunks): everything but the
    keys on the first line, ending `"keys":[`, then one key per line, then `]}`."""
    head = json.dumps({k: v for k, v in doc.items() if k != "keys"}, separators=(",", ":"))
    keys = ",\n".join(json.dumps(k, separators=(",", ":")) for k in doc.get("keys", []))
    return head[:-1] + ',"keys":[\n' + keys + ("\n" if keys else "") + "]}\n"


def change(version: int, kind: str, id: Any, data: dict[str, Any] | None = None, op: str = "upsert") -> dict[str, Any]:
    """One delta entry."""
    return {"version": version, "kind": kind, "op": op, "id": id, "data": data}
