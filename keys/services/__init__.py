"""Every API-key and access-token state change: the portal, REST API, admin and tasks all call these."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from foundation import events
from foundation.audit import audit_record
from foundation.errors import Conflict, LimitReached, NotFound, ValidationFailed
from foundation.limits import limit_check, owner_lock, user_lock
from foundation.validators import validate_datetime_range
from gateway_sync import changes as config_changes
from keys import tokens
from keys.models import ApiKey, PersonalAccessToken
from portal.models import Api, Application, Subscription

# Grace periods offered when rotating, as the portal lists them (Stripe offers the same kind of choice).
ROTATION_GRACE_CHOICES: dict[str, timedelta] = {
    "now": timedelta(0),
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
MAX_CIDRS = 50


def _event_data(key: ApiKey) -> dict[str, Any]:
    """What webhook receivers learn about a key: never the secret or its digest."""
    return {
        "id": key.pk,
        "name": key.name,
        "prefix": key.prefix,
        "environment": key.environment,
        "status": key.status,
        "application_id": key.application_id,
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
    }


def _publish(event_type: str, key: ApiKey, **extra: Any) -> None:
    events.publish(
        event_type=event_type,
        organisation_id=key.application.organisation_id,
        data={"key": _event_data(key), **extra},
    )


def normalise_cidrs(values: Iterable[str]) -> list[str]:
    """Validate CIDR ranges (IPv4 and IPv6); a bare address means that one host."""
    cleaned: list[str] = []
    errors: list[str] = []
    for raw in values:
        text = str(raw).strip()
        if not text:
            continue
        try:
            cleaned.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            errors.append(f"{text[:60]!r} is not an IP address or CIDR range.")
    if errors:
        raise ValidationFailed("Invalid IP ranges.", field_errors={"allowed_cidrs": errors})
    if len(cleaned) > MAX_CIDRS:
        raise ValidationFailed("Too many IP ranges.", field_errors={"allowed_cidrs": [f"At most {MAX_CIDRS}."]})
    return sorted(set(cleaned), key=cleaned.index)


def _validate_scopes(application: Application, apis: Iterable[Api]) -> list[Api]:
    """Scopes must be APIs the application is subscribed to; an unrelated API would be a silent no-op."""
    apis = list(apis)
    subscribed = set(Subscription.objects.live().filter(application=application).values_list("api_id", flat=True))
    foreign = [api.name for api in apis if api.pk not in subscribed]
    if foreign:
        raise ValidationFailed(
            "Keys can only be scoped to APIs the application is subscribed to.",
            field_errors={"apis": [f"Not subscribed: {', '.join(foreign)}."]},
        )
    return apis


def _validate_expiry(expires_at: datetime | None) -> None:
    try:
        validate_datetime_range(expires_at)
    except ValidationError as error:
        raise ValidationFailed("Out of range.", field_errors={"expires_at": list(error.messages)}) from None
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed(
            "The expiry must be in the future.", field_errors={"expires_at": ["Must be in the future."]}
        )


@transaction.atomic
def key_issue(
    *,
    actor: Any,
    application: Application,
    name: str,
    environment: str = ApiKey.Environment.LIVE,
    expires_at: datetime | None = None,
    allowed_cidrs: Iterable[str] = (),
    apis: Iterable[Api] = (),
) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is never retrievable again."""
    if not application.organisation.is_active:
        raise Conflict("This organisation is suspended.")
    Application.objects.select_for_update().filter(pk=application.pk).first()  # count keys race-free
    limit = settings.PORTICO_MAX_ACTIVE_KEYS_PER_APPLICATION
    if ApiKey.objects.usable_at(timezone.now()).filter(application=application).count() >= limit:
        raise LimitReached(f"An application can have at most {limit} active keys; revoke one first.")
    if environment not in ApiKey.Environment.values:
        raise ValidationFailed("Unknown environment.", field_errors={"environment": ["Use live or test."]})
    _validate_expiry(expires_at)
    scopes = _validate_scopes(application, apis)
    issued = tokens.generate(environment)
    key = ApiKey(
        application=application,
        name=name.strip(),
        environment=environment,
        prefix=issued.prefix,
        last4=issued.last4,
        digest=issued.digest,
        created_by=actor if getattr(actor, "pk", None) else None,
        expires_at=expires_at,
        allowed_cidrs=normalise_cidrs(allowed_cidrs),
    )
    key.full_clean(exclude=["digest", "prefix", "last4"])
    key.save()
    key.apis.set(scopes)
    audit_record(
        action="key.created",
        actor=actor,
        organisation=application.organisation,
        target=key,
        data={"prefix": key.prefix, "application": application.pk},
    )
    config_changes.record_keys([key])
    _publish("key.created", key)
    return key, issued.token


@transaction.atomic
def key_update(
    *,
    actor: Any,
    key: ApiKey,
    name: str | None = None,
    allowed_cidrs: Iterable[str] | None = None,
    apis: Iterable[Api] | None = None,
) -> ApiKey:
    """Rename a key or change its IP allowlist and scopes; the secret is untouched."""
    key = ApiKey.objects.select_for_update().select_related("application__organisation").get(pk=key.pk)
    if key.status == ApiKey.Status.REVOKED:
        raise Conflict("A revoked key cannot be changed.")
    changes: dict[str, Any] = {}
    if name is not None:
        key.name = name.strip()
        changes["name"] = key.name
    if allowed_cidrs is not None:
        key.allowed_cidrs = normalise_cidrs(allowed_cidrs)
        changes["allowed_cidrs"] = key.allowed_cidrs
    key.full_clean(exclude=["digest", "prefix", "last4"])
    key.save()
    if apis is not None:
        scopes = _validate_scopes(key.application, apis)
        key.apis.set(scopes)
        changes["apis"] = [api.slug for api in scopes]
    audit_record(action="key.updated", actor=actor, organisation=key.application.organisation, target=key, data=changes)
    config_changes.record_keys([key])
    return key


@transaction.atomic
def key_rotate(*, actor: Any, key: ApiKey, grace: timedelta, name: str | None = None) -> tuple[ApiKey, str]:
    """Issue a successor with the same settings; the old key keeps working for `grace`, then dies."""
    key = ApiKey.objects.select_for_update().select_related("application__organisation").get(pk=key.pk)
    now = timezone.now()
    if not key.is_usable_at(now):
        raise Conflict("Only a usable key can be rotated.")
    if key.replaced_by_id is not None:
        raise Conflict("This key has already been rotated.")
    if grace < timedelta(0) or grace > max(ROTATION_GRACE_CHOICES.values()):
        raise ValidationFailed("Grace period out of range.", field_errors={"grace": ["Between 0 and 7 days."]})
    deadline = now + grace
    if key.expires_at is not None:
        deadline = min(deadline, key.expires_at)
    # Rotation keeps the number of active keys, but the old key lives on in its grace period: chained
    # rotations must not pile up live keys, so keys in grace may be as many as active ones, no more.
    owner_lock(key.application)
    limit_check(
        ApiKey.objects.usable_at(now).filter(application=key.application),
        limit=2 * settings.PORTICO_MAX_ACTIVE_KEYS_PER_APPLICATION,
        what="live keys per application (active and in their grace period)",
    )
    successor = ApiKey(
        application=key.application,
        name=(name or key.name).strip(),
        environment=key.environment,
        expires_at=key.expires_at,
        allowed_cidrs=list(key.allowed_cidrs),
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    issued = tokens.generate(key.environment)
    successor.prefix, successor.last4, successor.digest = issued.prefix, issued.last4, issued.digest
    successor.full_clean(exclude=["digest", "prefix", "last4"])
    successor.save()
    successor.apis.set(key.apis.all())
    key.replaced_by = successor
    key.expires_at = deadline
    if grace == timedelta(0):
        key.status, key.revoked_at = ApiKey.Status.REVOKED, now
    key.save(update_fields=["replaced_by", "expires_at", "status", "revoked_at"])
    audit_record(
        action="key.rotated",
        actor=actor,
        organisation=key.application.organisation,
        target=key,
        data={"old": key.prefix, "new": successor.prefix, "old_valid_until": deadline.isoformat()},
    )
    config_changes.record_keys([key, successor])
    _publish("key.rotated", key, successor=_event_data(successor))
    return successor, issued.token


@transaction.atomic
def key_revoke(*, actor: Any, key: ApiKey) -> ApiKey:
    """Revoke now; idempotent (revoking twice changes nothing and records nothing)."""
    key = ApiKey.objects.select_for_update().select_related("application__organisation").get(pk=key.pk)
    if key.status == ApiKey.Status.REVOKED:
        return key
    key.status = ApiKey.Status.REVOKED
    key.revoked_at = timezone.now()
    key.save(update_fields=["status", "revoked_at"])
    audit_record(
        action="key.revoked",
        actor=actor,
        organisation=key.application.organisation,
        target=key,
        data={"prefix": key.prefix},
    )
    config_changes.record_keys([key])
    _publish("key.revoked", key)
    return key


# --- Personal access tokens ------------------------------------------------------------------------------------


@transaction.atomic
def access_token_issue(*, user: Any, name: str, expires_at: datetime | None = None) -> tuple[PersonalAccessToken, str]:
    """A REST API token for `user`; shown once."""
    _validate_expiry(expires_at)
    user_lock(user)
    limit_check(
        PersonalAccessToken.objects.filter(user=user, revoked_at__isnull=True).exclude(expires_at__lte=timezone.now()),
        limit=settings.PORTICO_MAX_ACCESS_TOKENS_PER_USER,
        what="access tokens per person",
    )
    issued = tokens.generate("pat")
    token = PersonalAccessToken(
        user=user,
        name=name.strip(),
        prefix=issued.prefix,
        last4=issued.last4,
        digest=issued.digest,
        expires_at=expires_at,
    )
    token.full_clean(exclude=["digest", "prefix", "last4"])
    token.save()
    audit_record(action="access_token.created", actor=user, target=token, data={"prefix": token.prefix})
    return token, issued.token


def _access_token_revoke(*, actor: Any, token: PersonalAccessToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        data = {"prefix": token.prefix}
        if actor.pk != token.user_id:
            data["owner"] = token.user.email
        audit_record(action="access_token.revoked", actor=actor, target=token, data=data)


@transaction.atomic
def access_token_revoke(*, user: Any, token: PersonalAccessToken) -> None:
    """A user revokes one of their own tokens; idempotent."""
    if token.user_id != user.pk:
        raise NotFound("Token not found.")
    _access_token_revoke(actor=user, token=token)


@transaction.atomic
def access_token_revoke_by_staff(*, staff: Any, token: PersonalAccessToken) -> None:
    """Staff (in the admin) revoke someone's token, e.g. one leaked in a public repository; staff are the actor."""
    _access_token_revoke(actor=staff, token=token)


def access_token_authenticate(raw: str) -> PersonalAccessToken | None:
    """The usable token matching `raw`, or None. Malformed tokens are rejected before touching the database."""
    if not tokens.is_well_formed(raw, kind="pat"):
        return None
    token = PersonalAccessToken.objects.select_related("user").filter(digest=tokens.digest(raw)).first()
    now = timezone.now()
    if token is None or not token.is_usable_at(now) or not token.user.is_active:
        return None
    # Write last_used at most once a minute per token: it is shown to users, not used for security.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        PersonalAccessToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
