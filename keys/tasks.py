"""Periodic OAuth2 upkeep: scheduled signing-key rotation and pruning of expired token records and keys."""

from __future__ import annotations

from celery import shared_task

from keys.services import clients, signing


@shared_task
def rotate_signing_keys() -> str | None:
    """Rotate the signing key when it is older than PORTICO_OAUTH_KEY_MAX_AGE_DAYS; then drop fully retired keys."""
    new = signing.signing_keys_rotate_due()
    signing.signing_keys_prune()
    return new.kid if new is not None else None


@shared_task
def prune_oauth_tokens() -> int:
    """Forget expired access-token records (their `jti`s are useless once expired)."""
    return clients.oauth_tokens_prune()
