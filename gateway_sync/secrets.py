"""Encryption at rest for secrets the platform must be able to use again (gateway push secrets).

Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`, keyed by PORTICO_SECRETS_KEY or, when that is
unset, a key derived from SECRET_KEY with HKDF so a separate setting is optional.
"""

from __future__ import annotations

import base64
import functools
import hmac
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


@functools.cache
def _fernet(material: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"portico-secrets-at-rest").derive(
        material.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def _current() -> Fernet:
    return _fernet(settings.PORTICO_SECRETS_KEY or settings.SECRET_KEY)


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(token: str, *, max_age_seconds: int | None = None) -> str:
    """The plaintext; raises ValueError when the token was not made with our key, was tampered with, or is older
    than max_age_seconds (Fernet tokens carry their creation time)."""
    try:
        return _current().decrypt(token.encode(), ttl=max_age_seconds).decode()
    except InvalidToken:
        raise ValueError("secret cannot be decrypted with the configured key, or has expired") from None


def constant_time_equal(a: str, b: str) -> bool:
    """Compare secrets without leaking where they differ."""
    return hmac.compare_digest(a.encode(), b.encode())


SEALED_FIELD = "upstream_client_key"  # an API's private key towards its upstream (docs/mtls.md)


def unseal(data: Any) -> Any:
    """A config entry as it leaves for a gateway: a field stored encrypted (`<name>_encrypted`, in the change feed
    too) decrypted into `<name>`; anything else unchanged. So the database never holds the plaintext."""
    token = data.get(f"{SEALED_FIELD}_encrypted") if isinstance(data, dict) else None
    if not token:
        return data
    opened = {name: value for name, value in data.items() if name != f"{SEALED_FIELD}_encrypted"}
    opened[SEALED_FIELD] = decrypt(token)
    return opened
