"""JWT signing keys: generation (private half encrypted at rest), rotation with an overlap, signing, verification.

All JOSE work is joserfc's; the private key is a PKCS#8 PEM encrypted with the platform's secrets key
(gateway_sync.secrets, Fernet) and decrypted only to sign.

Rotation timeline (docs/oauth.md): a new key is published in the JWKS and the gateway feed at once but signs only
from `activates_at` (PORTICO_OAUTH_KEY_PUBLISH_SECONDS later), so every gateway knows it before its first token.
The old key stops signing then (`retires_at`) and stays published until its last token has expired
(`published_until` = retires_at + PORTICO_OAUTH_MAX_TOKEN_LIFETIME). An emergency rotation (leaked key) skips
both waits: the new key signs at once and the old key leaves the JWKS, so its tokens fail verification.

The first key waits out the publish delay too (it is created ahead of time: by `manage.py rotate_signing_key
--if-missing` at deploy, `make run` and the hourly task). Until it may sign, the token endpoint
answers 503 `temporarily_unavailable` with Retry-After rather than issue tokens no gateway can verify yet.
"""

from __future__ import annotations

import functools
import logging
import math
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from foundation.audit import audit_record
from foundation.errors import ApplicationError, Conflict
from gateway_sync import changes as config_changes
from gateway_sync import secrets as secret_box
from keys.models import SigningKey

logger = logging.getLogger(__name__)
ALGORITHM = "ES256"
CURVE = "P-256"
KID_BYTES = 9  # a 12-character kid: names a key among a handful, need not be a thumbprint
JWS_TYP = "at+jwt"  # RFC 9068: a JWT access token, so it cannot be confused with an ID token


class SigningKeyPending(ApplicationError):
    """No key may sign yet: the first one is published and gateways are still learning it."""

    status = 503
    code = "temporarily_unavailable"
    title = "Temporarily unavailable"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"The token signing key is being published; retry in {retry_after} s.")
        self.retry_after = retry_after


def _publish_delay() -> timedelta:
    return timedelta(seconds=settings.PORTICO_OAUTH_KEY_PUBLISH_SECONDS)


def _new_key(*, activates_at: datetime, created_at: datetime | None = None) -> SigningKey:
    # A short random kid, not the 43-character JWK thumbprint: every token carries it, and gateways pay per byte of
    # the Authorization header they parse (docs/benchmarks.md, "Access tokens at the gateway").
    key = ECKey.generate_key(CURVE, parameters={"kid": secrets.token_urlsafe(KID_BYTES)})
    public = {**key.as_dict(private=False), "use": "sig", "alg": ALGORITHM}
    pem = key.as_pem(private=True).decode()
    return SigningKey.objects.create(
        kid=str(key.kid),
        algorithm=ALGORITHM,
        public_jwk=public,
        private_key_encrypted=secret_box.encrypt(pem),
        created_at=created_at or timezone.now(),
        activates_at=activates_at,
    )


@functools.lru_cache(maxsize=8)
def _private_key(kid: str, encrypted: str) -> ECKey:
    """Decrypted once per process and key (the cache is keyed by the ciphertext, so a new key is a new entry)."""
    return ECKey.import_key(secret_box.decrypt(encrypted), parameters={"kid": kid})


@transaction.atomic
def signing_key_rotate(*, actor: Any = None, emergency: bool = False, immediate: bool = False) -> SigningKey:
    """Create the next signing key; the current one retires when it activates (see the module docstring).

    `immediate`: the new key signs at once because the current one cannot (its private half is unreadable); the
    old keys stay published for the tokens they signed. `emergency` also withdraws them at once. Otherwise, the
    first key included, the new key signs only once gateways have had PORTICO_OAUTH_KEY_PUBLISH_SECONDS to learn it.
    """
    now = timezone.now()
    current = list(SigningKey.objects.select_for_update().filter(retires_at__isnull=True))
    at_once = emergency or immediate
    activates_at = now if at_once else now + _publish_delay()
    if not at_once and SigningKey.objects.filter(activates_at__gt=now).exists():
        raise Conflict("A rotation is already under way: the next key is published but not signing yet.")
    new = _new_key(activates_at=activates_at, created_at=now)
    overlap = timedelta(0) if emergency else timedelta(seconds=settings.PORTICO_OAUTH_MAX_TOKEN_LIFETIME)
    for old in current:
        old.retires_at = activates_at
        old.published_until = activates_at + overlap if not emergency else now
        old.save(update_fields=["retires_at", "published_until"])
    audit_record(
        action="signing_key.rotated",
        actor=actor,
        target=new,
        data={"kid": new.kid, "retired": [old.kid for old in current], "emergency": emergency, "immediate": at_once},
    )
    config_changes.record_signing_keys([*(old.kid for old in current), new.kid])
    return new


def signing_key_current(now: datetime | None = None) -> SigningKey | None:
    """The key that signs at `now`: the newest allowed to sign that has been published for the publish delay.

    A younger one signs only when no such key exists: the replacement of a leaked or unreadable key, which is meant
    to sign at once. So a key made by a racing process, or any other fresh key, never signs before gateways know it.
    """
    now = now or timezone.now()
    keys = list(SigningKey.objects.signing_at(now))
    known = [key for key in keys if key.created_at <= now - _publish_delay()]
    preferred = known or keys
    return preferred[0] if preferred else None


@transaction.atomic
def signing_key_prepare() -> SigningKey:
    """Make sure a key signs now or is published and waiting; on a fresh platform, create the first one (waiting)."""
    now = timezone.now()
    SigningKey.objects.select_for_update().filter(retires_at__isnull=True).first()  # one creator at a time
    key = signing_key_current(now) or SigningKey.objects.filter(activates_at__gt=now).order_by("activates_at").first()
    return key if key is not None else signing_key_rotate()


def signing_wait_seconds() -> int:
    """0 when a key can sign now; else (after making sure one is on its way) the seconds until one can."""
    if signing_key_current() is not None:
        return 0
    pending = signing_key_prepare()
    return max(1, math.ceil((pending.activates_at - timezone.now()).total_seconds()))


@transaction.atomic
def signing_keys_rotate_due() -> SigningKey | None:
    """The scheduled rotation: a new key when the signing one is older than PORTICO_OAUTH_KEY_MAX_AGE_DAYS."""
    now = timezone.now()
    key = signing_key_current(now)
    if SigningKey.objects.filter(activates_at__gt=now).exists():
        return None  # a successor (or the first key) is already published and waiting
    if key is not None and now - key.activates_at < timedelta(days=settings.PORTICO_OAUTH_KEY_MAX_AGE_DAYS):
        return None
    return signing_key_rotate()


@transaction.atomic
def signing_keys_prune() -> int:
    """Delete keys no longer published (all their tokens expired) and tell gateways to drop them."""
    gone = list(SigningKey.objects.filter(published_until__lte=timezone.now()).values_list("kid", flat=True))
    SigningKey.objects.filter(kid__in=gone).delete()
    config_changes.record_signing_keys(gone)
    return len(gone)


def jwks() -> dict[str, Any]:
    """The public JWK Set: what clients and gateways verify tokens with."""
    return {"keys": [key.public_jwk for key in SigningKey.objects.published_at(timezone.now())]}


def sign(claims: dict[str, Any]) -> str:
    """A compact JWS of `claims` with the current signing key (SigningKeyPending before the first one may sign)."""
    key = signing_key_current()
    if key is None:
        raise SigningKeyPending(signing_wait_seconds())
    try:
        private = _private_key(key.kid, key.private_key_encrypted)
    except ValueError:
        # The secrets key changed since this key was made, so it can never sign again: replace it now rather than
        # fail every token request. Its public half stays published for the tokens it already signed.
        logger.error("signing key %s cannot be decrypted with the configured secrets key; replacing it", key.kid)
        key = signing_key_rotate(immediate=True)
        private = _private_key(key.kid, key.private_key_encrypted)
    header = {"alg": key.algorithm, "kid": key.kid, "typ": JWS_TYP}
    return jwt.encode(header, claims, private, algorithms=[key.algorithm])


def verify(token: str, *, now: datetime | None = None) -> dict[str, Any] | None:
    """The claims of a token we issued (signature by a published key, issuer, audience, not expired), or None."""
    try:
        key_set = KeySet.import_key_set(jwks())  # type: ignore[arg-type]
        decoded = jwt.decode(token, key_set, algorithms=[ALGORITHM])
        registry = jwt.JWTClaimsRegistry(
            now=int((now or timezone.now()).timestamp()),
            iss={"essential": True, "value": settings.PORTICO_OAUTH_ISSUER},
            aud={"essential": True, "value": settings.PORTICO_OAUTH_AUDIENCE},
            exp={"essential": True},
            jti={"essential": True},
            sub={"essential": True},
        )
        registry.validate(decoded.claims)
    except (JoseError, ValueError, TypeError):
        return None
    return dict(decoded.claims)
