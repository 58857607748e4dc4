"""The audit trail: the one table every app writes to. It refers to tenants by Django's lazy model reference,
so this package imports no feature app.

The trail is append-only: rows are written once, through `foundation.audit_chain.chain_append`, and the ORM
refuses every update and delete (PostgreSQL refuses them too, with a trigger: foundation migration 0004).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

# The tenant model audit events are filed under (an organisation), named lazily like AUTH_USER_MODEL.
TENANT_MODEL = "portal.Organisation"
HASH_LENGTH = 64  # a SHA-256 digest in hex


class AppendOnlyError(Exception):
    """A write that would change or remove audit history: a programming error, never a user's."""


class AppendOnlyQuerySet(models.QuerySet):
    """Reads and inserts only: bulk writes would skip the hash chain, updates and deletes would rewrite history."""

    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("audit events are never updated")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit events are never deleted")

    def bulk_create(self, *args: Any, **kwargs: Any) -> list[Any]:
        raise AppendOnlyError("audit events are appended one by one, through foundation.audit.audit_record")

    def bulk_update(self, *args: Any, **kwargs: Any) -> int:
        raise AppendOnlyError("audit events are never updated")

    def _raw_delete(self, *args: Any, **kwargs: Any) -> int:  # Django's deletion collector's fast path
        raise AppendOnlyError("audit events are never deleted")


class AuditEvent(models.Model):
    """A security-relevant event, linked into the global hash chain and its organisation's chain."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # No database constraint and DO_NOTHING: deleting a user or an organisation must not touch (update or
    # delete) its audit rows, which the trigger would refuse. The label keeps who it was.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=254, blank=True)
    organisation = models.ForeignKey(
        TENANT_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="audit_events",
    )
    action = models.CharField(max_length=60, db_index=True)
    target_type = models.CharField(max_length=40, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    data = models.JSONField(default=dict, blank=True)
    # The chains: position and predecessor in the global chain and, for events of an organisation, in its own.
    seq = models.PositiveBigIntegerField(unique=True)
    prev_hash = models.CharField(max_length=HASH_LENGTH, blank=True)
    org_seq = models.PositiveBigIntegerField(null=True, blank=True)
    org_prev_hash = models.CharField(max_length=HASH_LENGTH, blank=True)
    entry_hash = models.CharField(max_length=HASH_LENGTH)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        db_table = "portal_auditevent"  # created by the portal app before the trail moved here; the rows stay put
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organisation", "-created_at"], name="portal_audi_organis_2f57a3_idx")]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "org_seq"], name="foundation_audit_org_seq_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_label or 'system'}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding or not self.entry_hash:
            raise AppendOnlyError("audit events are appended once, through foundation.audit.audit_record")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit events are never deleted")


class AuditChainHead(models.Model):
    """The newest link of one chain ("global" or "org:<id>"): the row appends lock, and what a verifier compares
    the last entry with, so even a deleted last entry shows."""

    chain = models.CharField(max_length=40, primary_key=True)
    seq = models.PositiveBigIntegerField(default=0)
    entry_hash = models.CharField(max_length=HASH_LENGTH, blank=True)

    def __str__(self) -> str:
        return f"{self.chain} at {self.seq}"
