"""The audit trail: the one table every app writes to. It refers to tenants by Django's lazy model reference,
so this package imports no feature app."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

# The tenant model audit events are filed under (an organisation), named lazily like AUTH_USER_MODEL.
TENANT_MODEL = "portal.Organisation"


class AuditEvent(models.Model):
    """A security-relevant event. Values are stored as data and only ever rendered escaped."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=254, blank=True)
    organisation = models.ForeignKey(
        TENANT_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    action = models.CharField(max_length=60, db_index=True)
    target_type = models.CharField(max_length=40, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "portal_auditevent"  # created by the portal app before the trail moved here; the rows stay put
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organisation", "-created_at"], name="portal_audi_organis_2f57a3_idx")]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_label or 'system'}"
