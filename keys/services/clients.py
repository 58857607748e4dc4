"""OAuth2 clients of applications (client-credentials grant) and the JWT access tokens issued to them.

A client secret has the key format (`ptc_cs_…`, checksum, only the SHA-256 digest stored) and is shown once.
Rotation keeps the previous secret valid for a grace period, like keys. Tokens are stateless JWTs, but each
issued `jti` is recorded (client, scopes, expiry) so introspection and revocation work; rows are pruned at expiry.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from foundation import events
from foundation.audit import audit_record
from foundation.errors import Conflict, ValidationFailed
from foundation.limits import limit_check, owner_lock
from gateway_sync import changes as config_changes
from keys import tokens
from keys.models import ApiKey, OAuthClient, OAuthToken
from keys.services import ROTATION_GRACE_CHOICES
from keys.services.signing import sign, verify
from portal.models import Application, Subscription

CLIENT_ID_PREFIX = "ptc_client_"
CLIENT_ID_RANDOM_BYTES = 16  # 128 bits: identifiers need not be secret, only unguessable enough to be unique
JTI_BYTES = 16  # a token's unique id: 128 bits


# a test client's id starts so (issue #15): the request log's 20-character prefix shows the environment
TEST_CLIENT_ID_PREFIX = CLIENT_ID_PREFIX + "test_"


def _new_client_id(environment: str = ApiKey.Environment.LIVE) -> str:
    prefix = TEST_CLIENT_ID_PREFIX if environment == ApiKey.Environment.TEST else CLIENT_ID_PREFIX
    return prefix + secrets.token_hex(CLIENT_ID_RANDOM_BYTES)


def _publish(event_type: str, client: OAuthClient, **extra: Any) -> None:
    """Tell webhook receivers (inside the caller's transaction); never the secret or its digest."""
    data = {
        "id": client.pk,
        "name": client.name,
        "client_id": client.client_id,
        "secret_last4": client.secret_last4,
        "status": "revoked" if client.revoked_at else "active",
        "application_id": client.application_id,
    }
    events.publish(
        event_type=event_type,
        organisation_id=client.application.organisation_id,
        data={"oauth_client": data, **extra},
    )


@transaction.atomic
def oauth_client_issue(
    *, actor: Any, application: Application, name: str, environment: str = ApiKey.Environment.LIVE
) -> tuple[OAuthClient, str]:
    """Create a client and return it with its secret, which is never retrievable again."""
    if environment not in ApiKey.Environment.values:
        raise ValidationFailed("Choose live or test.", field_errors={"environment": ["Choose live or test."]})
    if not application.organisation.is_active:
        raise Conflict("This organisation is suspended.")
    owner_lock(application)
    limit_check(
        OAuthClient.objects.active().filter(application=application),
        limit=settings.PORTICO_MAX_OAUTH_CLIENTS_PER_APPLICATION,
        what="active OAuth clients per application",
    )
    issued = tokens.generate("cs")
    client = OAuthClient(
        application=application,
        name=name.strip(),
        client_id=_new_client_id(environment),
        environment=environment,
        secret_prefix=issued.prefix,
        secret_last4=issued.last4,
        secret_digest=issued.digest,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    client.full_clean(exclude=["client_id", "secret_prefix", "secret_last4", "secret_digest"])
    client.save()
    audit_record(
        action="oauth_client.created",
        actor=actor,
        organisation=application.organisation,
        target=client,
        data={"client_id": client.client_id, "application": application.pk},
    )
    _publish("oauth_client.created", client)
    return client, issued.token


@transaction.atomic
def oauth_client_rotate(*, actor: Any, client: OAuthClient, grace: timedelta) -> tuple[OAuthClient, str]:
    """A new secret; the current one keeps working for `grace` (replacing any older secret still in grace)."""
    client = OAuthClient.objects.select_for_update().select_related("application__organisation").get(pk=client.pk)
    if client.revoked_at is not None:
        raise Conflict("A revoked client cannot be rotated.")
    if grace < timedelta(0) or grace > max(ROTATION_GRACE_CHOICES.values()):
        raise ValidationFailed("Grace period out of range.", field_errors={"grace": ["Between 0 and 7 days."]})
    now = timezone.now()
    issued = tokens.generate("cs")
    client.previous_secret_digest = client.secret_digest if grace else ""
    client.previous_secret_expires_at = now + grace if grace else None
    client.secret_prefix, client.secret_last4, client.secret_digest = issued.prefix, issued.last4, issued.digest
    client.rotated_at = now
    client.save()
    audit_record(
        action="oauth_client.rotated",
        actor=actor,
        organisation=client.application.organisation,
        target=client,
        data={"client_id": client.client_id, "old_valid_until": (now + grace).isoformat()},
    )
    _publish("oauth_client.rotated", client, previous_secret_valid_until=(now + grace).isoformat())
    return client, issued.token


@transaction.atomic
def oauth_client_revoke(*, actor: Any, client: OAuthClient) -> OAuthClient:
    """Revoke the client and every unexpired token it holds; gateways learn both through the feed. Idempotent."""
    client = OAuthClient.objects.select_for_update().select_related("application__organisation").get(pk=client.pk)
    if client.revoked_at is not None:
        return client
    now = timezone.now()
    client.revoked_at = now
    client.save(update_fields=["revoked_at"])
    live = list(client.tokens.filter(revoked_at__isnull=True, expires_at__gt=now))
    OAuthToken.objects.filter(pk__in=[token.pk for token in live]).update(revoked_at=now)
    audit_record(
        action="oauth_client.revoked",
        actor=actor,
        organisation=client.application.organisation,
        target=client,
        data={"client_id": client.client_id, "tokens_revoked": len(live)},
    )
    _publish("oauth_client.revoked", client, tokens_revoked=len(live))
    config_changes.record_revoked_client(client)
    config_changes.record_revoked_tokens(live)
    return client


def oauth_client_authenticate(*, client_id: str, secret: str) -> OAuthClient | None:
    """The active client with this id and secret (current, or previous within its grace period), else None."""
    if not client_id or not tokens.is_well_formed(secret, kind="cs"):
        return None  # a malformed secret costs no lookup
    client = (
        OAuthClient.objects.active().select_related("application__organisation").filter(client_id=client_id).first()
    )
    if client is None or not client.application.organisation.is_active:
        return None
    offered = tokens.digest(secret)
    now = timezone.now()
    if hmac.compare_digest(offered, client.secret_digest) or (
        client.in_grace_at(now) and hmac.compare_digest(offered, client.previous_secret_digest)
    ):
        OAuthClient.objects.filter(pk=client.pk).update(last_used_at=now)
        return client
    return None


# --- Access tokens ---------------------------------------------------------------------------------------------


def subscribed_scopes(application: Application) -> list[str]:
    """The scopes a client of `application` may ask for: the slugs of the APIs it has an active subscription to."""
    live = Subscription.objects.filter(application=application, status=Subscription.Status.ACTIVE)
    return sorted(live.values_list("api__slug", flat=True))


def token_lifetime(application: Application, scopes: list[str]) -> int:
    """Seconds a token for `scopes` lives: the shortest lifetime of the plans involved, else the default."""
    subs = Subscription.objects.filter(application=application, status=Subscription.Status.ACTIVE, api__slug__in=scopes)
    shortest = subs.aggregate(value=Min("plan__access_token_lifetime_seconds"))["value"]
    lifetime = shortest or settings.PORTICO_OAUTH_TOKEN_LIFETIME
    return min(lifetime, settings.PORTICO_OAUTH_MAX_TOKEN_LIFETIME)


@transaction.atomic
def oauth_token_issue(*, client: OAuthClient, scopes: list[str], lifetime: int) -> str:
    """Sign a JWT access token for `client` and record its `jti`."""
    now = timezone.now()
    issued_at = now.replace(microsecond=0)
    expires_at = issued_at + timedelta(seconds=lifetime)
    jti = secrets.token_urlsafe(JTI_BYTES)  # 22 characters, shorter than a hex UUID: tokens travel on every call
    claims = {
        "iss": settings.PORTICO_OAUTH_ISSUER,
        "sub": client.client_id,
        "aud": settings.PORTICO_OAUTH_AUDIENCE,
        "iat": int(issued_at.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": jti,
        "client_id": client.client_id,
        "scope": " ".join(scopes),
        "application_id": client.application_id,
        "organisation_id": client.application.organisation_id,
    }
    if client.environment == ApiKey.Environment.TEST:
        claims["environment"] = "test"  # issue #15: gateways send the token's requests to the APIs' sandboxes
    token = sign(claims)
    OAuthToken.objects.create(
        jti=jti, client=client, scope=" ".join(scopes), issued_at=issued_at, expires_at=expires_at
    )
    return token


def oauth_token_find(*, token: str, client: OAuthClient) -> tuple[OAuthToken, dict[str, Any]] | None:
    """The record and claims of a valid token we issued to `client`; None for anyone else's or a forged one."""
    claims = verify(token)
    if claims is None:
        return None
    record = OAuthToken.objects.filter(jti=str(claims.get("jti")), client=client).first()
    return (record, claims) if record is not None else None


@transaction.atomic
def oauth_token_revoke(*, token: OAuthToken, actor: Any = None) -> OAuthToken:
    """Revoke one token by `jti`; gateways deny it until its `exp`. Idempotent."""
    token = OAuthToken.objects.select_for_update().select_related("client__application").get(pk=token.pk)
    if token.revoked_at is not None or token.expires_at <= timezone.now():
        return token
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(
        action="oauth_token.revoked",
        actor=actor,
        organisation=token.client.application.organisation,
        target=token.client,
        data={"jti": token.jti, "client_id": token.client.client_id},
    )
    config_changes.record_revoked_tokens([token])
    return token


def oauth_tokens_prune(*, now: datetime | None = None) -> int:
    """Forget expired tokens: nothing can use or revoke them any more (gateways drop their deny entries at `exp`)."""
    deleted, _ = OAuthToken.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
