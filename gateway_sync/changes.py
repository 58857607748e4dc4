"""The transactional outbox: services call these inside their own transaction to publish what gateways enforce.

Each change carries the object's full edge state as of that transaction (or a delete), so replaying a change
a gateway already has is harmless and the latest change for an object always wins.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from certificates.models import ClientCertificate
from gateway_sync import snapshot
from gateway_sync.models import ConfigChange, FeedState
from gateway_sync.selectors import current_version
from gateway_sync.tasks import enqueue_push
from keys.models import ApiKey, OAuthClient, OAuthToken, SigningKey
from portal.models import Api, Organisation, Plan, Subscription


def _allocate(count: int) -> int:
    """Reserve `count` versions and return the first; the row lock is held until our commit."""
    if not connection.in_atomic_block:
        raise RuntimeError("Config changes must be recorded inside the transaction that makes them.")
    updated = FeedState.objects.filter(pk=1).update(version=F("version") + count)
    if not updated:  # first change ever on this database
        FeedState.objects.create(pk=1, version=count)
        return 1
    return current_version() - count + 1


def _record(entries: list[tuple[str, str, str, dict[str, Any] | None]]) -> None:
    if not entries:
        return
    first = _allocate(len(entries))
    ConfigChange.objects.bulk_create(
        ConfigChange(version=first + offset, kind=kind, op=op, object_id=object_id, data=data)
        for offset, (kind, op, object_id, data) in enumerate(entries)
    )
    _push_on_commit.request()


class PushOnCommit:
    """Asks the workers for one push per committed transaction, however many changes it recorded.

    Every recording registers `flush` on commit; the first flush of a commit enqueues the push and the others find
    nothing pending. A rolled-back transaction runs no flush and leaves `pending` set, which only means the next
    committed change's flush (it always registers its own) enqueues as it would anyway. Per thread, because
    Django runs on-commit callbacks in the thread whose connection committed.
    """

    def __init__(self) -> None:
        self._state = threading.local()

    def request(self) -> None:
        """Called inside the transaction that records a change."""
        self._state.pending = True
        transaction.on_commit(self.flush, robust=True)

    def flush(self) -> None:
        if getattr(self._state, "pending", False):
            self._state.pending = False
            enqueue_push()


_push_on_commit = PushOnCommit()


def record_keys(keys: Iterable[ApiKey]) -> None:
    """Publish the current edge state of these keys: upsert if enforceable now, delete otherwise."""
    keys = list(keys)
    if not keys:
        return
    ids = [key.pk for key in keys]
    live = {e["digest"]: e for e in snapshot.key_entries(snapshot.enforced_keys(timezone.now()).filter(pk__in=ids))}
    digests = ApiKey.objects.filter(pk__in=ids).order_by("pk").values_list("digest", flat=True)
    _record(
        [
            (ConfigChange.Kind.KEY, ConfigChange.Op.UPSERT, digest, live[digest])
            if digest in live
            else (ConfigChange.Kind.KEY, ConfigChange.Op.DELETE, digest, None)
            for digest in digests
        ]
    )


def record_subscriptions(subscriptions: Iterable[Subscription]) -> None:
    """Publish the current edge state of these subscriptions (status, plan, quota block)."""
    ids = sorted(sub.pk for sub in subscriptions)
    if not ids:
        return
    live = {e["id"]: e for e in snapshot.subscription_entries(snapshot.enforced_subscriptions().filter(pk__in=ids))}
    _record(
        [
            (ConfigChange.Kind.SUBSCRIPTION, ConfigChange.Op.UPSERT, str(pk), live[pk])
            if pk in live
            else (ConfigChange.Kind.SUBSCRIPTION, ConfigChange.Op.DELETE, str(pk), None)
            for pk in ids
        ]
    )


def record_api(api_id: int) -> None:
    """Publish an API's routing and policy, or its removal."""
    entries = snapshot.api_entries(Api.objects.filter(pk=api_id))
    if entries:
        _record([(ConfigChange.Kind.API, ConfigChange.Op.UPSERT, str(api_id), entries[0])])
    else:
        _record([(ConfigChange.Kind.API, ConfigChange.Op.DELETE, str(api_id), None)])


def record_plan(plan_id: int) -> None:
    """Publish a plan's limits, or its removal."""
    entries = snapshot.plan_entries(Plan.objects.filter(pk=plan_id))
    if entries:
        _record([(ConfigChange.Kind.PLAN, ConfigChange.Op.UPSERT, str(plan_id), entries[0])])
    else:
        _record([(ConfigChange.Kind.PLAN, ConfigChange.Op.DELETE, str(plan_id), None)])


def record_organisation(organisation: Organisation) -> None:
    """Suspending or reactivating an organisation adds or removes all its keys and subscriptions at the edge."""
    now = timezone.now()
    record_keys(ApiKey.objects.usable_at(now).filter(application__organisation=organisation))
    record_subscriptions(Subscription.objects.live().filter(application__organisation=organisation))
    record_client_certificates(ClientCertificate.objects.shipped_at(now).filter(application__organisation=organisation))


def record_signing_keys(kids: Iterable[str]) -> None:
    """Publish signing keys (public JWK) while they are in the JWKS, and their removal once they leave it."""
    kids = sorted(set(kids))
    if not kids:
        return
    published = {
        key["kid"]: key
        for key in SigningKey.objects.published_at(timezone.now())
        .filter(kid__in=kids)
        .values_list("public_jwk", flat=True)
    }
    _record(
        [
            (ConfigChange.Kind.SIGNING_KEY, ConfigChange.Op.UPSERT, kid, published[kid])
            if kid in published
            else (ConfigChange.Kind.SIGNING_KEY, ConfigChange.Op.DELETE, kid, None)
            for kid in kids
        ]
    )


def record_revoked_tokens(tokens: Iterable[OAuthToken]) -> None:
    """Add revoked JWTs to the gateways' deny-list; each entry carries the token's `exp`, after which it is moot."""
    ids = [token.pk for token in tokens]
    entries = snapshot.revoked_token_entries(OAuthToken.objects.revoked_alive_at(timezone.now()).filter(pk__in=ids))
    _record([(ConfigChange.Kind.OAUTH_TOKEN, ConfigChange.Op.UPSERT, e["jti"], e) for e in entries])


def record_revoked_client(client: OAuthClient) -> None:
    """A revoked client: gateways refuse every token whose `sub` it is, until the longest lifetime has passed."""
    entries = snapshot.revoked_client_entries(OAuthClient.objects.filter(pk=client.pk), timezone.now())
    _record([(ConfigChange.Kind.OAUTH_CLIENT, ConfigChange.Op.UPSERT, e["client_id"], e) for e in entries])


def record_client_certificates(certs: Iterable[ClientCertificate]) -> None:
    """Publish client certificates (docs/mtls.md): upsert while a gateway should hold them, delete otherwise."""
    ids = sorted(cert.pk for cert in certs)
    if not ids:
        return
    live = {
        e["fingerprint"]: e
        for e in snapshot.client_certificate_entries(
            snapshot.enforced_client_certificates(timezone.now()).filter(pk__in=ids)
        )
    }
    fingerprints = ClientCertificate.objects.filter(pk__in=ids).order_by("pk").values_list("fingerprint", flat=True)
    _record(
        [
            (ConfigChange.Kind.CLIENT_CERT, ConfigChange.Op.UPSERT, fp, live[fp])
            if fp in live
            else (ConfigChange.Kind.CLIENT_CERT, ConfigChange.Op.DELETE, fp, None)
            for fp in fingerprints
        ]
    )
