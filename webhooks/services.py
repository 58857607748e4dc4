"""Every webhook state change: endpoints (create, update, rotate, delete), test events, resends and attempts."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from foundation.audit import audit_record
from foundation.errors import ValidationFailed
from foundation.limits import limit_check, owner_lock
from foundation.mail import send_after_commit
from gateway_sync import secrets as secret_box
from portal.models import Membership, Role
from portal.selectors import membership_require
from webhooks import outbox, signing, transport
from webhooks.models import SUBSCRIBABLE_EVENTS, Attempt, Delivery, Endpoint, Event, EventType

# Standard Webhooks' schedule: after the 1st failure wait 5 s, then 5 min, 30 min, 2 h, 5 h, 10 h, 10 h…, until
# PORTICO_WEBHOOKS_RETRY_HOURS after the first attempt (the last try is made at that moment).
RETRY_DELAYS = [
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
]
EXCERPT_BYTES = 1024  # of each answer, kept in the delivery log
CLAIM_MARGIN = timedelta(seconds=30)
# Celery's soft limit is 60 s and one request may take PORTICO_WEBHOOKS_TIMEOUT_SECONDS (at most 30 s).
SWEEP_BUDGET_SECONDS = 25.0  # a claimed delivery is retried by others if its worker died


def _allow_loopback() -> bool:
    return bool(settings.PORTICO_WEBHOOKS_ALLOW_LOOPBACK_HTTP)


def _clean_url(url: str) -> str:
    try:
        transport.check_registration(url.strip(), allow_loopback=_allow_loopback())
    except transport.RefusedTarget as error:
        raise ValidationFailed(str(error), field_errors={"url": [str(error)]}) from None
    return url.strip()


def _clean_event_types(event_types: list[str]) -> list[str]:
    unknown = [str(name)[:60] for name in event_types if name not in SUBSCRIBABLE_EVENTS]
    if unknown or not event_types:
        message = f"Choose among: {', '.join(SUBSCRIBABLE_EVENTS)}."
        raise ValidationFailed("Unknown or no event types.", field_errors={"event_types": [message]})
    return sorted(set(event_types))


@transaction.atomic
def endpoint_create(
    *, membership: Membership, url: str, event_types: list[str], description: str = ""
) -> tuple[Endpoint, str]:
    """Register an endpoint and return it with its signing secret, which is shown this once."""
    membership_require(membership)
    organisation = membership.organisation
    owner_lock(organisation)
    limit_check(
        Endpoint.objects.filter(organisation=organisation),
        limit=settings.PORTICO_WEBHOOKS_MAX_ENDPOINTS,
        what="webhook endpoints per organisation",
    )
    secret = signing.new_secret()
    endpoint = Endpoint.objects.create(
        organisation=organisation,
        url=_clean_url(url),
        description=description.strip(),
        event_types=_clean_event_types(event_types),
        secret_encrypted=secret_box.encrypt(secret),
        created_by=membership.user,
    )
    audit_record(
        action="webhook.created",
        actor=membership.user,
        organisation=organisation,
        target=endpoint,
        data={"url": endpoint.url, "event_types": endpoint.event_types},
    )
    return endpoint, secret


@transaction.atomic
def endpoint_update(
    *,
    membership: Membership,
    endpoint: Endpoint,
    url: str | None = None,
    event_types: list[str] | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> Endpoint:
    """Change the URL, events or description, or disable/enable; enabling resumes its pending deliveries now."""
    membership_require(membership)
    endpoint = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
    changes: dict[str, Any] = {}
    if url is not None:
        endpoint.url = changes["url"] = _clean_url(url)
    if event_types is not None:
        endpoint.event_types = changes["event_types"] = _clean_event_types(event_types)
    if description is not None:
        endpoint.description = changes["description"] = description.strip()
    if is_active is not None and is_active != endpoint.is_active:
        endpoint.is_active = changes["is_active"] = is_active
        endpoint.disabled_reason = "" if is_active else "Disabled by a member."
        endpoint.failing_since = None
        if is_active:
            now = timezone.now()
            retry_until = now + timedelta(hours=settings.PORTICO_WEBHOOKS_RETRY_HOURS)
            Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.PENDING).update(
                next_attempt_at=now, retry_until=retry_until
            )
    endpoint.save()
    audit_record(
        action="webhook.updated",
        actor=membership.user,
        organisation=endpoint.organisation,
        target=endpoint,
        data=changes,
    )
    return endpoint


@transaction.atomic
def endpoint_rotate_secret(*, membership: Membership, endpoint: Endpoint) -> tuple[Endpoint, str]:
    """A new secret; the current one keeps signing too for the overlap period, so receivers can switch over."""
    membership_require(membership)
    endpoint = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
    secret = signing.new_secret()
    overlap = timedelta(hours=settings.PORTICO_WEBHOOKS_SECRET_OVERLAP_HOURS)
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = timezone.now() + overlap
    endpoint.secret_encrypted = secret_box.encrypt(secret)
    endpoint.save(update_fields=["secret_encrypted", "previous_secret_encrypted", "previous_secret_expires_at"])
    audit_record(
        action="webhook.secret_rotated",
        actor=membership.user,
        organisation=endpoint.organisation,
        target=endpoint,
        data={"previous_valid_until": endpoint.previous_secret_expires_at.isoformat()},
    )
    return endpoint, secret


@transaction.atomic
def endpoint_delete(*, membership: Membership, endpoint: Endpoint) -> None:
    """Remove an endpoint with its delivery log; pending deliveries to it are dropped."""
    membership_require(membership)
    audit_record(
        action="webhook.deleted",
        actor=membership.user,
        organisation=endpoint.organisation,
        data={"endpoint": endpoint.pk, "url": endpoint.url},
    )
    endpoint.delete()


@transaction.atomic
def endpoint_send_test(*, membership: Membership, endpoint: Endpoint) -> Delivery:
    """Send a `webhook.test` event to this endpoint only (even when it is disabled: a test is how to check it)."""
    membership_require(membership)
    # No requester's name or address in the body: it leaves the platform.
    event = Event.objects.create(
        organisation=endpoint.organisation, type=EventType.TEST, data={"endpoint_id": endpoint.pk}
    )
    audit_record(action="webhook.test_sent", actor=membership.user, organisation=endpoint.organisation, target=endpoint)
    return outbox.deliveries_create(event, [endpoint])[0]


@transaction.atomic
def delivery_resend(*, membership: Membership, delivery: Delivery) -> Delivery:
    """Send the same event (same id) again, with a new retry window; what was logged stays in the log."""
    membership_require(membership)
    delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
    now = timezone.now()
    delivery.status = Delivery.Status.PENDING
    delivery.next_attempt_at = now
    delivery.retry_until = None
    delivery.save(update_fields=["status", "next_attempt_at", "retry_until"])
    audit_record(
        action="webhook.resent",
        actor=membership.user,
        organisation=membership.organisation,
        target=delivery.endpoint,
        data={"event": delivery.event_id},
    )
    transaction.on_commit(lambda: outbox.enqueue([delivery.pk]), robust=True)
    return delivery


# --- Sending ---------------------------------------------------------------------------------------------------


def event_body(event: Event) -> str:
    """The request body, identical at every attempt (the signature covers it)."""
    payload = {"type": event.type, "timestamp": event.created_at.isoformat(), "data": event.data}
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)


def _signing_secrets(endpoint: Endpoint) -> list[str]:
    found = [secret_box.decrypt(endpoint.secret_encrypted)]
    if endpoint.previous_secret_signs_at(timezone.now()):
        found.append(secret_box.decrypt(endpoint.previous_secret_encrypted))
    return found


@transaction.atomic
def _claim(delivery_id: int) -> Delivery | None:
    """Take a due delivery for one attempt; a second worker (or a duplicate task) finds it not due and stops."""
    now = timezone.now()
    delivery = (
        Delivery.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("event", "endpoint")
        .filter(pk=delivery_id)
        .due(now)
        .first()
    )
    is_test = delivery is not None and delivery.event.type == EventType.TEST
    if delivery is None or not (delivery.endpoint.is_active or is_test):
        return None
    delivery.attempts += 1
    if delivery.retry_until is None:
        delivery.retry_until = now + timedelta(hours=settings.PORTICO_WEBHOOKS_RETRY_HOURS)
    # Not due again until this attempt has surely ended: a worker killed mid-request is covered by a retry.
    delivery.next_attempt_at = now + timedelta(seconds=settings.PORTICO_WEBHOOKS_TIMEOUT_SECONDS) + CLAIM_MARGIN
    delivery.save(update_fields=["attempts", "retry_until", "next_attempt_at"])
    return delivery


def delivery_attempt(*, delivery_id: int) -> Attempt | None:
    """Make one attempt if the delivery is due; log it and schedule the next one (or give up)."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    started = timezone.now()
    body = event_body(delivery.event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Portico-Webhooks/1",
        **signing.headers(
            message_id=delivery.event_id,
            timestamp=started,
            body=body,
            signing_secrets=_signing_secrets(delivery.endpoint),
        ),
    }
    try:
        target = transport.resolve(delivery.endpoint.url, allow_loopback=_allow_loopback())
    except transport.RefusedTarget as error:
        answer = transport.Answer(status=None, body=b"", duration_ms=0, error=str(error))
    else:
        answer = transport.post(
            target,
            body=body.encode(),
            headers=headers,
            timeout=settings.PORTICO_WEBHOOKS_TIMEOUT_SECONDS,
            max_bytes=settings.PORTICO_WEBHOOKS_MAX_RESPONSE_BYTES,
        )
    return _record(delivery, started=started, body=body, answer=answer)


@transaction.atomic
def _record(delivery: Delivery, *, started: Any, body: str, answer: transport.Answer) -> Attempt:
    attempt = Attempt.objects.create(
        delivery=delivery,
        number=delivery.attempts,
        started_at=started,
        duration_ms=answer.duration_ms,
        request_body=body,
        response_status=answer.status,
        response_excerpt=answer.body[:EXCERPT_BYTES].decode("utf-8", errors="replace"),
        error=answer.error[:300],
    )
    now = timezone.now()
    endpoint = Endpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
    if attempt.succeeded:
        delivery.status, delivery.next_attempt_at = Delivery.Status.SUCCEEDED, None
        if endpoint.failing_since is not None:
            endpoint.failing_since = None
            endpoint.save(update_fields=["failing_since"])
    else:
        _schedule_retry(delivery, now)
        _note_failure(endpoint, now)
    delivery.save(update_fields=["status", "next_attempt_at"])
    return attempt


def _schedule_retry(delivery: Delivery, now: Any) -> None:
    retry_until = delivery.retry_until or now
    if now >= retry_until:
        delivery.status, delivery.next_attempt_at = Delivery.Status.FAILED, None
        return
    delay = RETRY_DELAYS[min(delivery.attempts, len(RETRY_DELAYS)) - 1]
    delivery.next_attempt_at = min(now + delay, retry_until)


def _note_failure(endpoint: Endpoint, now: Any) -> None:
    """Remember when the failures began; failing for the whole retry window disables the endpoint."""
    if endpoint.failing_since is None:
        endpoint.failing_since = now
        endpoint.save(update_fields=["failing_since"])
        return
    if not endpoint.is_active or now - endpoint.failing_since < timedelta(hours=settings.PORTICO_WEBHOOKS_RETRY_HOURS):
        return
    endpoint.is_active = False
    endpoint.disabled_reason = f"Every delivery failed for {settings.PORTICO_WEBHOOKS_RETRY_HOURS} hours."
    endpoint.save(update_fields=["is_active", "disabled_reason"])
    audit_record(
        action="webhook.disabled",
        actor_label="webhook delivery",
        organisation=endpoint.organisation,
        target=endpoint,
        data={"failing_since": endpoint.failing_since.isoformat()},
    )
    owners = endpoint.organisation.memberships.filter(role=Role.OWNER).values_list("user__email", flat=True)
    for email in owners:
        send_after_commit(
            subject="A webhook endpoint was disabled",
            template="webhooks/email/endpoint_disabled.txt",
            context={"endpoint": endpoint},
            to=[email],
        )


def deliveries_send_due(*, limit: int = 100, budget_seconds: float = SWEEP_BUDGET_SECONDS) -> int:
    """Attempt due deliveries (oldest first, at most `limit`, starting none after `budget_seconds`, so one sweep
    stays inside the task time limit even when every receiver times out); the safety net behind on-commit tasks."""
    deadline = time.monotonic() + budget_seconds
    due = (
        Delivery.objects.due(timezone.now())
        .filter(Q(endpoint__is_active=True) | Q(event__type=EventType.TEST))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for delivery_id in list(due):
        if time.monotonic() >= deadline:
            break
        sent += delivery_attempt(delivery_id=delivery_id) is not None
    return sent


PRUNE_BATCH = 1000  # events per DELETE: bounded transactions and lock times on a big backlog


def events_prune(*, now: datetime) -> int:
    """Delete events (with their deliveries and attempt logs) older than PORTICO_OUTBOX_RETENTION_DAYS whose
    deliveries are all finished; an event still pending somewhere (a disabled endpoint's backlog) stays. Returns
    how many events went."""
    cutoff = now - timedelta(days=settings.PORTICO_OUTBOX_RETENTION_DAYS)
    old = Event.objects.filter(created_at__lt=cutoff).exclude(deliveries__status=Delivery.Status.PENDING)
    pruned = 0
    while ids := list(old.order_by("created_at").values_list("pk", flat=True)[:PRUNE_BATCH]):
        with transaction.atomic():
            # The filter again, in the deleting statement: a delivery sent again meanwhile keeps its event.
            old.filter(pk__in=ids).delete()
        pruned += len(ids)
    return pruned
