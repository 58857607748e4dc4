"""The full gateway configuration snapshot (docs/gateway-protocol.md): only what the edge needs, and no secret but
the private keys of the client certificates APIs present to their upstreams (docs/mtls.md).

Built with flat `values()` queries so 100,000 keys cost a handful of queries, not one per key. Sent as a stream
(`snapshot_chunks`): the keys come last, one per line, read from a server-side cursor, so neither the platform
nor the gateway ever holds a million keys at once.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from certificates.models import ClientCertificate
from gateway_sync import secrets
from keys.models import ApiKey, OAuthClient, OAuthToken, SigningKey
from portal.models import Api, Organisation, Plan, Subscription
from protection.selectors import edge_members_by_api
from redaction.selectors import edge_entries as redaction_entries

_STREAM_ROWS = 5_000  # keys per cursor fetch and per piece of the streamed snapshot
_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode  # never emits a raw line break


def _epoch(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


def api_entry(api: dict[str, Any]) -> dict[str, Any]:
    entry = {
        "id": api["id"],
        "slug": api["slug"],
        "host": api["host"] or None,
        "path_prefix": api["path_prefix"],
        "upstream_url": api["upstream_url"],
        # issue #15: where test keys go; null: the API refuses them (cause test-key-no-sandbox)
        "sandbox_upstream_url": api["sandbox_upstream_url"] or None,
        "strip_prefix": api["strip_prefix"],
        "methods": api["methods"],
        "max_body_bytes": api["max_body_bytes"],
        "key_header": api["key_header"],
        "allow_query_key": api["allow_query_key"],
        "query_key_param": "api_key",
        "connect_timeout_ms": api["connect_timeout_ms"],
        "read_timeout_ms": api["read_timeout_ms"],
        "send_timeout_ms": api["send_timeout_ms"],
        "upstream_tls_verify": api["upstream_tls_verify"],
        # The portal's own origin is always allowed: its try-it console calls APIs from the browser.
        "cors_origins": sorted({*api["cors_allowed_origins"], portal_origin()}),
    }
    mode = api.get("mtls_policy__mode")
    if mode and mode != "off":  # present only when on: APIs without mTLS look exactly as before (docs/mtls.md)
        entry["mtls"] = mode
        entry["mtls_ca"] = api.get("mtls_policy__ca_pem") or None
    if api.get("upstream_certificate__key_encrypted"):
        # the one secret in the config, the API's key towards its upstream: encrypted here and in the change feed,
        # decrypted only into what a gateway receives (secrets.unseal; docs/mtls.md, "Secrets")
        entry["upstream_client_cert"] = api["upstream_certificate__certificate_pem"]
        entry["upstream_client_key_encrypted"] = api["upstream_certificate__key_encrypted"]
    return entry


def portal_origin() -> str:
    """scheme://host[:port] of PORTICO_SITE_URL, as a browser sends it in Origin."""
    parts = urlsplit(settings.PORTICO_SITE_URL)
    return f"{parts.scheme}://{parts.netloc}"


def plan_entry(plan: dict[str, Any]) -> dict[str, Any]:
    return {key: plan[key] for key in _PLAN_FIELDS}


def subscription_entry(sub: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": sub["id"],
        "application_id": sub["application_id"],
        "api_id": sub["api_id"],
        "plan_id": sub["plan_id"],
        "status": sub["status"],
        "blocked_until": _epoch(sub["blocked_until"]),
        "blocked_reason": sub["blocked_reason"] or None,
    }


_API_FIELDS = (
    "id",
    "slug",
    "host",
    "path_prefix",
    "upstream_url",
    "sandbox_upstream_url",
    "strip_prefix",
    "methods",
    "max_body_bytes",
    "key_header",
    "allow_query_key",
    "connect_timeout_ms",
    "read_timeout_ms",
    "send_timeout_ms",
    "upstream_tls_verify",
    "cors_allowed_origins",
    "mtls_policy__mode",
    "mtls_policy__ca_pem",
    "upstream_certificate__certificate_pem",
    "upstream_certificate__key_encrypted",
)
_PLAN_FIELDS = (
    "id",
    "rate_per_second",
    "rate_per_minute",
    "quota_per_day",
    "quota_per_month",
    "store_failure_mode",
    "quota_scope",
    "rate_scope",
    "test_rate_per_second",
    "test_rate_per_minute",
    "test_quota_per_day",
    "test_quota_per_month",
)
_SUB_FIELDS = ("id", "application_id", "api_id", "plan_id", "status", "blocked_until", "blocked_reason")
_KEY_FIELDS = (
    "id",
    "digest",
    "prefix",
    "application_id",
    "application__organisation_id",
    "status",
    "expires_at",
    "environment",
    "allowed_cidrs",
)


def enforced_keys(now: datetime) -> QuerySet[ApiKey]:
    """Keys a gateway should hold: usable now, in an active organisation."""
    active_orgs = Organisation.objects.filter(status=Organisation.Status.ACTIVE)
    return ApiKey.objects.usable_at(now).filter(application__organisation__in=active_orgs)


def enforced_subscriptions() -> QuerySet[Subscription]:
    """Subscriptions a gateway should hold: not ended, in an active organisation."""
    active_orgs = Organisation.objects.filter(status=Organisation.Status.ACTIVE)
    return Subscription.objects.live().filter(application__organisation__in=active_orgs)


def _key_rows(keys: QuerySet[ApiKey], *, stream: bool = False) -> Iterator[dict[str, Any]]:
    """Snapshot entries for `keys` in two queries, whatever their number; `stream`: through a server-side cursor."""
    # At 100,000 keys the model's default ordering, per-row dicts and per-row JSON decoding each cost more than the
    # query itself: no ORDER BY (the gateway does not care), tuples, and allowed_cidrs read as text (nearly always
    # "[]", decoded only otherwise).
    rows = (
        keys.order_by()
        .annotate(cidrs_text=Cast("allowed_cidrs", output_field=TextField()))
        .values_list(*_KEY_FIELDS[:-1], "cidrs_text")
    )
    scopes: dict[int, list[int]] = defaultdict(list)  # only scoped keys: most keys serve every subscribed API
    scope_rows = ApiKey.apis.through.objects.filter(apikey__in=keys.order_by().values("id"))
    for key_id, api_id in scope_rows.values_list("apikey_id", "api_id"):
        scopes[key_id].append(api_id)
    for key_id, digest, prefix, application_id, organisation_id, status, expires_at, environment, cidrs in (
        rows.iterator(chunk_size=_STREAM_ROWS) if stream else rows
    ):
        entry = {
            "digest": digest,
            "prefix": prefix,
            "application_id": application_id,
            "organisation_id": organisation_id,
            "status": status,
            "expires_at": _epoch(expires_at),
            "api_ids": sorted(scopes[key_id]) if key_id in scopes else [],
            "allowed_cidrs": [] if cidrs == "[]" else json.loads(cidrs),
        }
        # Issue #15: only a test key says so, last, so a live key's line stays the one the gateway's fast path cuts.
        if environment == ApiKey.Environment.TEST:
            entry["environment"] = "test"
        yield entry


def key_entries(keys: QuerySet[ApiKey]) -> list[dict[str, Any]]:
    """Snapshot entries for `keys` (deltas, tests): a list, for the few keys a change names."""
    return list(_key_rows(keys))


def enforced_client_certificates(now: datetime) -> QuerySet[ClientCertificate]:
    """Certificates a gateway should hold: not past their end, in an active organisation (revoked ones too, marked,
    so a refusal can say `certificate-revoked`)."""
    active_orgs = Organisation.objects.filter(status=Organisation.Status.ACTIVE)
    return ClientCertificate.objects.shipped_at(now).filter(application__organisation__in=active_orgs)


def client_certificate_entries(certs: QuerySet[ClientCertificate]) -> list[dict[str, Any]]:
    """The pinned fingerprints (SHA-256 of the DER, hex), owners and validity; never more of the certificate."""
    rows = certs.order_by("id").values_list(
        "fingerprint", "application_id", "application__organisation_id", "not_before", "not_after", "revoked_at"
    )
    return [
        {
            "fingerprint": fingerprint,
            "application_id": application_id,
            "organisation_id": organisation_id,
            "not_before": _epoch(not_before),
            "not_after": _epoch(not_after),
            "status": "revoked" if revoked_at else "active",
        }
        for fingerprint, application_id, organisation_id, not_before, not_after, revoked_at in rows
    ]


def subscription_entries(subscriptions: QuerySet[Subscription]) -> list[dict[str, Any]]:
    return [subscription_entry(sub) for sub in subscriptions.order_by("id").values(*_SUB_FIELDS)]


def api_entries(apis: QuerySet[Api]) -> list[dict[str, Any]]:
    entries = [api_entry(api) for api in apis.order_by("id").values(*_API_FIELDS)]
    # request validation and attack signatures (docs/protection.md): members present only on APIs where they are
    # on, one query for all of them
    protected = edge_members_by_api([e["id"] for e in entries] if len(entries) < 1000 else None)
    for entry in entries:
        members = protected.get(entry["id"])
        if members:
            entry.update(members)
    # redaction rules (docs/redaction.md) travel with their API; absent for APIs without any
    rules = redaction_entries(entry["id"] for entry in entries)
    for entry in entries:
        if entry["id"] in rules:
            entry["redaction"] = rules[entry["id"]]
    return entries


def plan_entries(plans: QuerySet[Plan]) -> list[dict[str, Any]]:
    return [plan_entry(plan) for plan in plans.order_by("id").values(*_PLAN_FIELDS)]


def signing_key_entries(now: datetime) -> list[dict[str, Any]]:
    """Public JWKs of the published signing keys (never a private parameter: only `public_jwk` is read)."""
    return list(SigningKey.objects.published_at(now).values_list("public_jwk", flat=True))


def revoked_token_entries(tokens: QuerySet[OAuthToken]) -> list[dict[str, Any]]:
    """Revoked JWTs by `jti`, with their `exp`: a gateway keeps each only until then."""
    rows = tokens.order_by("expires_at", "jti").values_list("jti", "client__client_id", "expires_at")
    return [{"jti": jti, "client_id": client_id, "exp": _epoch(exp)} for jti, client_id, exp in rows]


def revoked_client_entries(clients: QuerySet[OAuthClient], now: datetime) -> list[dict[str, Any]]:
    """Revoked clients whose tokens may still be unexpired (revoked less than the longest lifetime ago)."""
    lifetime = timedelta(seconds=settings.PORTICO_OAUTH_MAX_TOKEN_LIFETIME)
    rows = clients.filter(revoked_at__gt=now - lifetime).order_by("id")
    return [
        {"client_id": client_id, "application_id": application_id, "until": _epoch(revoked_at + lifetime)}
        for client_id, application_id, revoked_at in rows.values_list("client_id", "application_id", "revoked_at")
    ]


def oauth_entry(now: datetime) -> dict[str, Any]:
    """What a gateway needs to verify consumer JWTs locally (docs/gateway-protocol.md, "OAuth2 access tokens")."""
    return {
        "issuer": settings.PORTICO_OAUTH_ISSUER,
        "audience": settings.PORTICO_OAUTH_AUDIENCE,
        "jwks": {"keys": signing_key_entries(now)},
        "revoked_clients": revoked_client_entries(OAuthClient.objects.filter(revoked_at__isnull=False), now),
        "revoked_tokens": revoked_token_entries(OAuthToken.objects.revoked_alive_at(now)),
    }


def snapshot_head(*, version: int, now: datetime) -> dict[str, Any]:
    """Everything but the keys. Suspended organisations are simply absent."""
    return {
        "version": version,
        "generated_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "apis": [secrets.unseal(entry) for entry in api_entries(Api.objects.all())],
        "plans": plan_entries(Plan.objects.all()),
        "subscriptions": subscription_entries(enforced_subscriptions()),
        "oauth": oauth_entry(now),
        "client_certs": client_certificate_entries(enforced_client_certificates(now)),
    }


def build_snapshot(*, version: int) -> dict[str, Any]:
    """Everything a gateway enforces, as one object (tests, small fleets); the API streams `snapshot_chunks`."""
    now = timezone.now()
    return {**snapshot_head(version=version, now=now), "keys": key_entries(enforced_keys(now))}


def snapshot_chunks(*, version: int) -> Iterator[str]:
    """The snapshot's JSON text in pieces: the head on the first line, then `"keys":[`, one key per line, `]}`.

    Any JSON parser reads it as the object `build_snapshot` returns; the gateway relies on the line layout to load
    the keys a slice at a time while the text arrives (docs/gateway-protocol.md §2). Memory stays flat: keys are
    read through a server-side cursor and encoded `_STREAM_ROWS` at a time.
    """
    now = timezone.now()
    head = _encode(snapshot_head(version=version, now=now))
    yield head[:-1] + ',"keys":[\n'
    batch: list[str] = []
    separator = ""
    for entry in _key_rows(enforced_keys(now), stream=True):
        batch.append(_encode(entry))
        if len(batch) == _STREAM_ROWS:
            yield separator + ",\n".join(batch)
            batch.clear()
            separator = ",\n"
    if batch:
        yield separator + ",\n".join(batch)
    yield "\n]}\n"
