"""Reads about the change feed and the gateway fleet, shared by the feed API, services, the admin and commands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password

from gateway_sync import secrets as secret_box
from gateway_sync.models import FeedState, Gateway


def current_version() -> int:
    """The newest committed version of the change feed (0 before the first change)."""
    return FeedState.objects.filter(pk=1).values_list("version", flat=True).first() or 0


@dataclass(frozen=True)
class FleetRow:
    """One gateway as the fleet page shows it."""

    gateway: Gateway
    drift: int
    heartbeat_age: timedelta | None
    log_lag: timedelta | None
    clock_alarm: bool = False  # its clock is further off than PORTICO_GATEWAY_CLOCK_ALARM_SECONDS


def fleet_status(*, now: datetime) -> tuple[int, list[FleetRow]]:
    """The feed's current version and every gateway's drift, heartbeat age, log lag and clock alarm (two queries)."""
    current = current_version()
    rows = [
        FleetRow(
            gateway=gateway,
            drift=max(current - gateway.applied_version, 0),
            heartbeat_age=now - gateway.last_heartbeat_at if gateway.last_heartbeat_at else None,
            log_lag=now - gateway.log_collected_at if gateway.log_collected_at else None,
            clock_alarm=gateway.clock_offset is not None
            and abs(gateway.clock_offset) > settings.PORTICO_GATEWAY_CLOCK_ALARM_SECONDS,
        )
        for gateway in Gateway.objects.select_related("oauth_application").order_by("name")
    ]
    return current, rows


def gateway_credentials_match(*, gateway: Gateway, client_id: str, client_secret: str, push_secret: str) -> bool:
    """Whether these credentials (e.g. from a gateway's env file) are the ones the platform holds now."""
    application = gateway.oauth_application
    if application is None or application.client_id != client_id:
        return False
    try:
        stored_push_secret = secret_box.decrypt(gateway.push_secret_encrypted)
    except ValueError:
        return False
    return check_password(client_secret, application.client_secret) and secret_box.constant_time_equal(
        stored_push_secret, push_secret
    )
