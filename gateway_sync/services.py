"""Every state change of the gateway fleet: registration, credentials, heartbeats, pushes, reconciliation, pruning.

The admin, the gateway REST endpoints, the management commands and the Celery tasks all call these functions.
"""

from __future__ import annotations

import logging
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max, Min
from django.db.models.functions import Greatest
from django.utils import timezone
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import get_access_token_model, get_application_model

from foundation.errors import Conflict, ValidationFailed
from gateway_sync import secrets as secret_box
from gateway_sync.admin_client import CLOCK_NOISE_SECONDS, GatewayAdminClient
from gateway_sync.models import ConfigChange, FeedState, Gateway
from gateway_sync.selectors import current_version

logger = logging.getLogger(__name__)

# Lua numbers are doubles and lua-cjson writes them with 14 significant digits (heartbeats, its journal):
# versions must stay below 10^14 to survive a round trip through the gateway.
MAX_VERSION = 10**14 - 1
# A clock offset is written again after this long even when unchanged, so the fleet page shows it is current.
_CLOCK_REFRESH = timedelta(seconds=60)


@dataclass(frozen=True)
class GatewayCredentials:
    """What a gateway needs to run, shown once: DOT hashes the client secret and the push secret is encrypted."""

    client_id: str
    client_secret: str
    push_secret: str


def _validation_failed(error: ValidationError) -> ValidationFailed:
    return ValidationFailed("Invalid gateway.", field_errors={k: list(v) for k, v in error.message_dict.items()})


def new_push_secret() -> str:
    """256 random bits as hex: no character a shell or an option parser reads specially (a URL-safe token
    can start with "-", which `--push-secret <value>` then takes for an option)."""
    return secrets.token_hex(32)


def _new_oauth_client(name: str) -> tuple[Any, str]:
    """A confidential client-credentials client; returns it with its plaintext secret (stored hashed)."""
    application_model = get_application_model()
    client_secret = generate_client_secret()
    application = application_model.objects.create(
        name=f"Gateway {name}",
        client_type=application_model.CLIENT_CONFIDENTIAL,
        authorization_grant_type=application_model.GRANT_CLIENT_CREDENTIALS,
        client_secret=client_secret,
        hash_client_secret=True,
        redirect_uris="",
    )
    return application, client_secret


@transaction.atomic
def gateway_register(*, name: str, admin_url: str) -> tuple[Gateway, str, str, str]:
    """Register a gateway as an OAuth2 client; returns it with its client id, client secret and push secret."""
    if Gateway.objects.filter(name=name).exists():
        raise Conflict(f"A gateway named {name!r} is already registered.", field_errors={"name": ["Already taken."]})
    gateway = Gateway(name=name, admin_url=admin_url.rstrip("/"))
    try:
        gateway.full_clean(exclude=["oauth_application", "push_secret_encrypted"])
    except ValidationError as error:
        raise _validation_failed(error) from None
    application, client_secret = _new_oauth_client(name)
    push_secret = new_push_secret()
    gateway.oauth_application = application
    gateway.push_secret_encrypted = secret_box.encrypt(push_secret)
    gateway.save()
    return gateway, application.client_id, client_secret, push_secret


@transaction.atomic
def gateway_rotate_credentials(*, gateway: Gateway) -> GatewayCredentials:
    """New client secret and push secret; existing access tokens die, so the old secret stops working at once."""
    gateway = Gateway.objects.select_for_update(of=("self",)).select_related("oauth_application").get(pk=gateway.pk)
    application = gateway.oauth_application
    if application is None:
        application, client_secret = _new_oauth_client(gateway.name)
        gateway.oauth_application = application
    else:
        client_secret = generate_client_secret()
        application.client_secret = client_secret
        application.hash_client_secret = True
        application.save(update_fields=["client_secret", "hash_client_secret", "updated"])
        get_access_token_model().objects.filter(application=application).delete()
    push_secret = new_push_secret()
    gateway.push_secret_encrypted = secret_box.encrypt(push_secret)
    gateway.save(update_fields=["oauth_application", "push_secret_encrypted"])
    return GatewayCredentials(application.client_id, client_secret, push_secret)


@transaction.atomic
def gateway_update(*, gateway: Gateway, admin_url: str) -> Gateway:
    """Change where the platform reaches a gateway's admin listener."""
    gateway.admin_url = admin_url.rstrip("/")
    try:
        gateway.full_clean(exclude=["oauth_application", "push_secret_encrypted"])
    except ValidationError as error:
        raise _validation_failed(error) from None
    gateway.save(update_fields=["admin_url"])
    return gateway


@transaction.atomic
def gateway_set_enabled(*, gateway: Gateway, enabled: bool) -> Gateway:
    """A disabled gateway gets no pushes and its token is refused by the config endpoints."""
    gateway.enabled = enabled
    gateway.save(update_fields=["enabled"])
    return gateway


_NO_ERROR = {"last_error": "", "last_error_at": None, "last_error_source": ""}


# How much of a gateway's alarm text is kept (its own errors are cut to the same length)
ALARM_TEXT_CHARS = 500


def _alarms(reported: dict[str, Any]) -> dict[str, Any]:
    """The alarms worth keeping: a count above zero, a text cut to size."""
    return {
        name: value[:ALARM_TEXT_CHARS] if isinstance(value, str) else value
        for name, value in reported.items()
        if value not in (None, "", 0)
    }


def gateway_record_heartbeat(
    *,
    gateway: Gateway,
    version: int | None,
    counters: dict[str, Any],
    errors: list[dict[str, Any]],
    alarms: dict[str, Any] | None = None,
    clock: float | None = None,
) -> Gateway:
    """Store what the gateway reports about itself; its version is the truth about what it enforces.

    `clock` is the gateway's time when it sent the heartbeat: its offset from ours (less the trip) is measured.
    """
    now = timezone.now()
    values: dict[str, Any] = {"last_heartbeat_at": now, "counters": counters, "alarms": _alarms(alarms or {})}
    if version is not None:
        values["applied_version"] = version
    if clock is not None:
        values.update(clock_offset=clock - now.timestamp(), clock_measured_at=now)
    latest = max(errors, key=lambda e: e.get("at") or 0) if errors else None
    at = latest.get("at") if latest else None
    latest_at = datetime.fromtimestamp(at, tz=UTC) if isinstance(at, int | float) else (now if latest else None)
    # The gateway re-reports its last few errors in every heartbeat: an error is news only once, and this
    # heartbeat arriving shows the gateway reaches the platform again when nothing failed since the last one.
    if latest and latest_at and (gateway.last_error_at is None or latest_at > gateway.last_error_at):
        values.update(
            last_error=f"gateway: {latest.get('error', '')}"[:500],
            last_error_at=latest_at,
            last_error_source=Gateway.ErrorSource.GATEWAY,
        )
    elif gateway.last_error_source == Gateway.ErrorSource.GATEWAY and (
        latest_at is None or (gateway.last_heartbeat_at is not None and latest_at < gateway.last_heartbeat_at)
    ):
        values.update(_NO_ERROR)
    Gateway.objects.filter(pk=gateway.pk).update(**values)
    gateway.refresh_from_db()
    _store_health([gateway], current_version(), now)
    return gateway


# --- Log collection (analytics.services.collection) -------------------------------------------------------------


def gateway_log_cursor_advance(*, gateway_id: int, cursor: int, digest: str = "") -> None:
    """Record that the gateway's log batches up to `cursor` are ingested (a collection error is over).

    `digest` is the gateway's digest of batch `cursor`, compared when the gateway has not acknowledged it yet.
    The collector calls this inside the page's ingest transaction, holding the gateway row's lock, so the cursor
    moves exactly when the page's counts commit.
    """
    Gateway.objects.filter(pk=gateway_id).update(
        log_cursor=cursor, log_cursor_digest=digest, log_collected_at=timezone.now()
    )
    _error_clear(gateway_id, Gateway.ErrorSource.COLLECTION)


def gateway_log_cursor_reset(*, gateway_id: int, reason: str) -> None:
    """Collect the gateway's log from its start again (its spool started over); `reason` is its latest error."""
    # Shown as the gateway's own event (its spool started over): the next quiet heartbeat clears it, not the
    # collection that follows at once.
    Gateway.objects.filter(pk=gateway_id).update(
        log_cursor=0,
        log_cursor_digest="",
        last_error=reason[:500],
        last_error_at=timezone.now(),
        last_error_source=Gateway.ErrorSource.GATEWAY,
    )


def gateway_clock_record(*, gateway: Gateway, offset: float, now: datetime | None = None) -> None:
    """Store the gateway's clock offset (its clock minus ours, seconds) that an admin answer's `Date` showed."""
    now = now or timezone.now()
    known, measured_at = gateway.clock_offset, gateway.clock_measured_at
    if known is not None and measured_at is not None:
        if abs(known - offset) < CLOCK_NOISE_SECONDS and now - measured_at < _CLOCK_REFRESH:
            return  # the same reading within `Date`'s noise: no write on every collection
    Gateway.objects.filter(pk=gateway.pk).update(clock_offset=offset, clock_measured_at=now)
    gateway.clock_offset, gateway.clock_measured_at = offset, now


def gateway_error_record(*, gateway_id: int, error: str) -> None:
    """Store the latest error log collection met with a gateway (the fleet page shows it, and when)."""
    Gateway.objects.filter(pk=gateway_id).update(
        last_error=error[:500], last_error_at=timezone.now(), last_error_source=Gateway.ErrorSource.COLLECTION
    )


def _error_clear(gateway_id: int, source: str) -> None:
    """The channel that failed works again: its error is history, not a state to show."""
    Gateway.objects.filter(pk=gateway_id, last_error_source=source).update(**_NO_ERROR)


# --- Feed -----------------------------------------------------------------------------------------------------


def feed_oldest_retained() -> int | None:
    """The oldest change still in the feed; a gateway at V can catch up by deltas only if V >= oldest - 1."""
    return ConfigChange.objects.aggregate(oldest=Min("version"))["oldest"]


def feed_is_retained(*, after: int, current: int) -> bool:
    """Whether every change after `after` up to `current` is still in the feed."""
    if after >= current:
        return True
    oldest = feed_oldest_retained()
    return oldest is not None and after >= oldest - 1


@transaction.atomic
def feed_fast_forward(*, past: int) -> int:
    """Move the feed beyond a version a gateway holds from another feed (a restored or replaced database).

    Gateways ignore snapshots not newer than what they have, so without this a gateway that saw versions from
    an older database would keep its stale keys until the new feed happened to overtake it.
    """
    if past >= MAX_VERSION:
        raise ValidationFailed("Version out of range.", field_errors={"after": [f"At most {MAX_VERSION - 1}."]})
    FeedState.objects.get_or_create(pk=1)
    FeedState.objects.filter(pk=1, version__lte=past).update(version=past + 1)
    logger.warning("config feed fast-forwarded past version %d held by a gateway", past)
    return current_version()


def feed_prune(*, now: datetime | None = None) -> int:
    """Drop changes older than the retention period, always keeping the newest N; returns how many went."""
    now = now or timezone.now()
    newest = ConfigChange.objects.aggregate(newest=Max("version"))["newest"]
    if newest is None:
        return 0
    keep_from = newest - settings.PORTICO_FEED_RETENTION_MIN_VERSIONS + 1
    cutoff = now - timedelta(days=settings.PORTICO_FEED_RETENTION_DAYS)
    # Delete a prefix only: everything at or below the newest expired version, so the feed stays contiguous.
    newest_expired = (
        ConfigChange.objects.filter(created_at__lt=cutoff, version__lt=keep_from).aggregate(v=Max("version")).get("v")
    )
    if newest_expired is None:
        return 0
    deleted, _ = ConfigChange.objects.filter(version__lte=newest_expired).delete()
    return deleted


# --- Push and reconcile ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushResult:
    """What one push achieved: `applied`, `stale`, `resync` (the gateway pulls a snapshot) or `failed`."""

    gateway_id: int
    status: str
    version: int | None = None
    error: str = ""
    clock_offset: float | None = None  # the gateway's clock minus ours, from its answer's Date

    @property
    def failed(self) -> bool:
        return self.status == "failed"


def _delta_for(applied: int, current: int) -> dict[str, Any]:
    """The changes after `applied`, or an empty delta from `current` that makes the gateway pull a snapshot."""
    if feed_is_retained(after=applied, current=current):
        page = settings.PORTICO_FEED_PAGE_SIZE
        rows = list(ConfigChange.objects.filter(version__gt=applied, version__lte=current).order_by("version")[:page])
        if len(rows) < page:
            return {"from": applied, "to": current, "changes": [row.as_delta() for row in rows]}
    # Too old for the retained feed, or a backlog bigger than a page: a full snapshot is cheaper.
    return {"from": current, "to": current, "changes": []}


def _send(gateway: Gateway, payload: dict[str, Any]) -> PushResult:
    """Sign and send one delta; never raises and touches no database, so it can run in a pool thread."""
    try:
        secret = secret_box.decrypt(gateway.push_secret_encrypted)
        client = GatewayAdminClient(
            gateway.admin_url,
            secret,
            timeout=settings.PORTICO_GATEWAY_PUSH_TIMEOUT,
            clock_offset=gateway.clock_offset,
        )
        response = client.request("POST", "/_portico/config", payload)
    except (requests.RequestException, ValueError) as error:
        return PushResult(gateway.pk, "failed", error=f"push failed: {type(error).__name__}")
    clock = client.measured_offset
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code not in (200, 202) or not isinstance(body, dict):
        reason = str(body.get("type", "")).rsplit("/", 1)[-1] if isinstance(body, dict) else ""
        refusal = f"push answered {response.status_code} {reason}".strip()
        return PushResult(gateway.pk, "failed", error=refusal, clock_offset=clock)
    version = body.get("version")
    status = str(body.get("status", ""))
    return PushResult(gateway.pk, status, version if isinstance(version, int) else None, clock_offset=clock)


def _record_push(gateway: Gateway, result: PushResult, now: datetime) -> None:
    values: dict[str, Any] = {"last_pushed_at": now}
    if result.failed:
        values.update(last_error=result.error[:500], last_error_at=now, last_error_source=Gateway.ErrorSource.PUSH)
    elif result.status in ("applied", "stale") and result.version is not None:
        # Answers can arrive out of order (two pushes in flight); the gateway's version only moves forward.
        values["applied_version"] = Greatest(F("applied_version"), result.version)
    elif result.status == "resync" and result.version is not None:
        values["applied_version"] = result.version  # it is pulling the snapshot; until then this is what it has
    Gateway.objects.filter(pk=gateway.pk).update(**values)
    if result.clock_offset is not None:
        gateway_clock_record(gateway=gateway, offset=result.clock_offset, now=now)
    if not result.failed:
        _error_clear(gateway.pk, Gateway.ErrorSource.PUSH)


def _health(gateway: Gateway, current: int, now: datetime, failed: bool) -> str:
    stale_after = timedelta(seconds=settings.PORTICO_GATEWAY_HEARTBEAT_STALE_SECONDS)
    heard_recently = gateway.last_heartbeat_at is not None and now - gateway.last_heartbeat_at <= stale_after
    if failed and not heard_recently:
        return Gateway.Health.UNREACHABLE
    if gateway.last_heartbeat_at is None and gateway.last_pushed_at is None:
        return Gateway.Health.UNKNOWN
    if failed or gateway.applied_version < current or not heard_recently:
        return Gateway.Health.LAGGING
    return Gateway.Health.HEALTHY


def _store_health(gateways: list[Gateway], current: int, now: datetime, failed: set[int] | None = None) -> None:
    for gateway in gateways:
        health = _health(gateway, current, now, gateway.pk in (failed or set()))
        if health != gateway.health:
            Gateway.objects.filter(pk=gateway.pk).update(health=health)
            gateway.health = health


def gateways_push(*, gateway_ids: list[int] | None = None) -> list[PushResult]:
    """Push the feed to every enabled gateway (or these) in parallel; record versions, errors and health."""
    current = current_version()
    gateways = Gateway.objects.filter(enabled=True, applied_version__lt=current).exclude(admin_url="")
    if gateway_ids is not None:
        gateways = gateways.filter(pk__in=gateway_ids)
    behind = list(gateways)
    if not behind:
        return []
    # Deltas are built here (gateways mostly share a version), so the pool threads only do HTTP.
    payloads: dict[int, dict[str, Any]] = {}
    for gateway in behind:
        if gateway.applied_version not in payloads:
            payloads[gateway.applied_version] = _delta_for(gateway.applied_version, current)
    with ThreadPoolExecutor(max_workers=min(len(behind), settings.PORTICO_GATEWAY_PUSH_CONCURRENCY)) as pool:
        results = list(pool.map(lambda g: _send(g, payloads[g.applied_version]), behind))
    now = timezone.now()
    for gateway, result in zip(behind, results, strict=True):
        _record_push(gateway, result, now)
        if result.failed:
            logger.warning("push to gateway %s failed: %s", gateway.name, result.error)
    refreshed = list(Gateway.objects.filter(pk__in=[g.pk for g in behind]))
    _store_health(refreshed, current, now, {r.gateway_id for r in results if r.failed})
    return results


def gateways_reconcile() -> list[PushResult]:
    """Repair drift: push to gateways behind the feed (missed pushes, restarts) and refresh everyone's health."""
    results = gateways_push()
    pushed = {r.gateway_id for r in results}
    failed = {r.gateway_id for r in results if r.failed}
    others = [g for g in Gateway.objects.all() if g.pk not in pushed]
    _store_health(others, current_version(), timezone.now(), failed)
    return results


@transaction.atomic
def gateway_delete(*, gateway: Gateway) -> None:
    """Forget a gateway and its OAuth2 client, so its tokens and credentials stop working at once."""
    application = gateway.oauth_application
    gateway.delete()
    if application is not None:
        application.delete()  # cascades to its access tokens
