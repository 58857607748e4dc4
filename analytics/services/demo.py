"""Demo usage for `seed_demo --usage`: weeks of made-up traffic with daily and weekly cycles, errors and denials,
from several keys to several endpoints, so a new user sees every chart and table populated at once. Each request's
operation comes from the API's own OpenAPI paths through the ingest's matcher, so the "By endpoint" table shows
what real traffic to those paths would (a few paths match no operation and count as "other").

Requests are generated one by one (a seeded, hence repeatable, random stream) and counted with the ingest's own
rollup writer, so the minute, hour and day rollups agree as they do for real traffic; the last day's requests are
also stored as raw events for the request log. Only the demo keys' usage is replaced on a re-run: the
traffic of other keys (the live demo key) stays, and nothing is counted twice.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from analytics.models import RequestEvent, UsageRollup
from analytics.services.events import latency
from analytics.services.operations import operation_matchers, operation_of
from analytics.services.rollups import (
    AUTH_FAILURES,
    BYTES_IN,
    BYTES_OUT,
    DENIED,
    ERRORS,
    LATENCY_HISTOGRAM,
    LATENCY_SUM_MS,
    N_COUNTERS,
    REQUESTS,
    THROTTLED,
    Groups,
    rollups_write,
)
from gateway_sync.models import Gateway
from keys.models import ApiKey
from keys.services import key_issue
from portal.models import Application, Subscription

# name -> (requests per hour at the daily peak, share kept at weekends, hours it runs or None for all day)
DEMO_KEYS: dict[str, tuple[float, float, tuple[int, ...] | None]] = {
    "Web backend": (24.0, 0.45, None),
    "Mobile app": (14.0, 0.8, None),
    "Nightly sync": (150.0, 1.0, (2,)),
}
# (method, path under the API's prefix, weight): a few calls per operation of portal.demo.DEMO_OPENAPI, ids varying,
# and a path the document does not describe.
CALLS: tuple[tuple[str, str, float], ...] = (
    ("GET", "/anything", 0.22),
    ("GET", "/anything/orders", 0.2),
    ("POST", "/anything/orders", 0.06),
    ("GET", "/anything/orders/{}", 0.24),
    ("GET", "/anything/customers/c-{}", 0.14),
    ("GET", "/anything/search", 0.1),
    ("GET", "/anything/legacy/export", 0.04),
)
# (status, limit outcome, denial cause, weight): mostly 2xx, some 404s, auth refusals, rate limits and 5xx.
OUTCOMES: tuple[tuple[int, str, str, float], ...] = (
    (200, "ok", "", 0.905),
    (201, "ok", "", 0.02),
    (304, "ok", "", 0.01),
    (404, "ok", "", 0.025),
    (422, "ok", "", 0.01),
    (401, "", "invalid-key", 0.008),
    (403, "", "forbidden-api", 0.004),
    (429, "rate", "rate-limited", 0.012),
    (500, "ok", "", 0.004),
    (502, "ok", "bad-gateway", 0.002),
)
INCIDENT_AGO = timedelta(days=9, hours=5)  # a two-hour upstream outage: many 502s and slow answers
INCIDENT_LENGTH = timedelta(hours=2)
EVENT_HOURS = 24  # the request log gets the last day's requests as raw events
_HOUR = 3600


@dataclass(frozen=True)
class UsageSeedResult:
    """What seeding made: requests counted, raw events stored, and the demo keys used."""

    requests: int
    events: int
    keys: int


def _daily(hour: int) -> float:
    """Traffic through a UTC day: quiet at night, a peak mid-afternoon (0.15 to 1)."""
    return 0.15 + 0.85 * (0.5 - 0.5 * math.cos((hour - 2) / 24 * 2 * math.pi)) ** 1.5


def _demo_keys(application: Application, actor: Any) -> list[ApiKey]:
    """The application's active demo keys, issued the first time (their secrets are never shown: seed data)."""
    keys = []
    for name in DEMO_KEYS:
        key = application.keys.filter(name=name, status=ApiKey.Status.ACTIVE).first()
        if key is None:
            key, _ = key_issue(actor=actor, application=application, name=name)
        keys.append(key)
    return keys


def _requests(rng: random.Random, key: ApiKey, start: datetime, end: datetime) -> list[tuple[float, int, str, str]]:
    """One key's requests in [start, end) as (time, status, limit outcome, denial cause), oldest first."""
    peak, weekend, hours = DEMO_KEYS[key.name]
    statuses = [o[:3] for o in OUTCOMES]
    weights = [o[3] for o in OUTCOMES]
    incident_start = end - INCIDENT_AGO
    answer = []
    hour = start
    while hour < end:
        if hours is None or hour.hour in hours:
            rate = peak * (_daily(hour.hour) if hours is None else 1.0) * (weekend if hour.weekday() >= 5 else 1.0)
            count = max(0, round(rate * rng.uniform(0.75, 1.25)))
            in_incident = incident_start <= hour < incident_start + INCIDENT_LENGTH
            for _ in range(count):
                t = hour.timestamp() + rng.random() * _HOUR
                if in_incident and rng.random() < 0.35:
                    answer.append((t, 502, "ok", "bad-gateway"))
                else:
                    answer.append((t, *rng.choices(statuses, weights)[0]))
        hour += timedelta(hours=1)
    answer.sort()
    return answer


def _latency(rng: random.Random, status: int, limit_outcome: str) -> float:
    """Seconds: the gateway answers refusals itself in about a millisecond; the upstream is log-normal."""
    if limit_outcome in ("rate", "") and status in (401, 403, 429):
        return rng.uniform(0.0004, 0.002)
    median = 0.9 if status == 502 else 0.045
    return min(25.0, rng.lognormvariate(math.log(median), 0.6))


@transaction.atomic
def usage_demo_seed(
    *, organisation_id: int, actor: Any, weeks: int = 4, now: datetime | None = None
) -> UsageSeedResult:
    """Replace the demo keys' usage of each of the organisation's applications with `weeks` of generated traffic."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    end = now.replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(weeks=weeks)
    event_start = end - timedelta(hours=EVENT_HOURS)
    gateway = Gateway.objects.order_by("pk").first()
    gateway_id = gateway.pk if gateway else 0
    rng = random.Random(f"portico-demo-{organisation_id}-{end.isoformat()}")  # repeatable made-up traffic, no secret
    minutes: Groups = {}
    calls, call_weights = [c[:2] for c in CALLS], [c[2] for c in CALLS]
    events: list[RequestEvent] = []
    keys: list[ApiKey] = []
    total = 0
    for application in Application.objects.filter(organisation_id=organisation_id).order_by("pk"):
        subscription = (
            Subscription.objects.live().filter(application=application).select_related("api").order_by("pk").first()
        )
        if subscription is None:
            continue  # no API to call: nothing a gateway could have counted
        app_keys = _demo_keys(application, actor)
        keys.extend(app_keys)
        api = subscription.api
        matchers = operation_matchers([api.pk])
        for key in app_keys:
            last_used = None
            for t, status, lim, cause in _requests(rng, key, start, end):
                seconds = _latency(rng, status, lim)
                ms, _, bucket = latency(seconds)
                method, pattern = rng.choices(calls, call_weights)[0]
                if status == 201:
                    method, pattern = "POST", "/anything/orders"
                path = api.path_prefix.rstrip("/") + pattern.format(rng.randint(1000, 1999))
                group = (
                    int(t) - int(t) % 60,
                    organisation_id,
                    application.pk,
                    key.pk,
                    0,  # no OAuth client: key traffic
                    subscription.api_id,
                    status // 100,
                    operation_of(matchers, api.pk, method, path),
                )
                counters = minutes.setdefault(group, [0] * N_COUNTERS)
                bytes_in, bytes_out = rng.randint(200, 900), rng.randint(300, 6000) if status < 300 else 180
                counters[REQUESTS] += 1
                counters[ERRORS] += status >= 500
                counters[DENIED] += lim == "rate"
                counters[AUTH_FAILURES] += status in (401, 403)
                counters[THROTTLED] += status == 429
                counters[BYTES_IN] += bytes_in
                counters[BYTES_OUT] += bytes_out
                counters[LATENCY_SUM_MS] += ms
                counters[LATENCY_HISTOGRAM + bucket] += 1
                total += 1
                last_used = t
                if t >= event_start.timestamp():
                    events.append(
                        RequestEvent(
                            time=datetime.fromtimestamp(t, UTC),
                            gateway_id=gateway_id,
                            sequence=0,  # ingest's batches start at 1, so seeded events never collide with real ones
                            position=len(events),
                            request_id=f"demo-{key.pk}-{int(t * 1000)}-{len(events)}",
                            method=method,
                            path=path,
                            status=status,
                            latency_ms=ms,
                            upstream_ms=None if cause in ("invalid-key", "forbidden-api", "rate-limited") else ms * 0.9,
                            bytes_in=bytes_in,
                            bytes_out=bytes_out,
                            client_ip=f"198.51.100.{(key.pk * 7) % 250 + 1}",
                            api_id=subscription.api_id,
                            application_id=application.pk,
                            organisation_id=organisation_id,
                            subscription_id=subscription.pk,
                            plan_id=subscription.plan_id,
                            key_id=key.pk,
                            key_prefix=key.prefix,
                            limit_outcome=lim,
                            denial_cause=cause,
                        )
                    )
            if last_used is not None:
                ApiKey.objects.filter(pk=key.pk).update(last_used_at=datetime.fromtimestamp(last_used, UTC))
    key_ids = [k.pk for k in keys]
    UsageRollup.objects.filter(key_id__in=key_ids).delete()
    RequestEvent.objects.filter(key_id__in=key_ids, sequence=0).delete()
    rollups_write(minutes)
    # Minute rollups past their retention would only be deleted by the next upkeep: keep the store as it would be.
    minute_cutoff = end - timedelta(days=settings.PORTICO_USAGE_MINUTE_RETENTION_DAYS)
    UsageRollup.objects.filter(
        key_id__in=key_ids, granularity=UsageRollup.Granularity.MINUTE, bucket__lt=minute_cutoff
    ).delete()
    RequestEvent.objects.bulk_create(events, batch_size=2_000)
    return UsageSeedResult(requests=total, events=len(events), keys=len(keys))
