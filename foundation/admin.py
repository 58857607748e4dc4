"""Admin building blocks every app uses, and the audit trail's read-only admin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from foundation.errors import ApplicationError
from foundation.models import AuditEvent


def run_per_object(request: HttpRequest, queryset: QuerySet[Any], action: Callable[[Any], Any], verb: str) -> None:
    """Apply a service to each selected row, reporting successes and refusals separately."""
    done, refused = 0, []
    for obj in queryset:
        try:
            action(obj)
            done += 1
        except ApplicationError as error:
            refused.append(f"{obj}: {error.message}")
    if done:
        messages.success(request, f"{verb} {done} item(s).")
    for line in refused:
        messages.warning(request, line)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable, never writable: for records only the system writes (audit trail, usage)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read-only: an audit trail that admins could edit would prove nothing."""

    list_display = ["created_at", "action", "actor_label", "organisation", "target_type", "target_label", "ip_address"]
    list_filter = ["action", "target_type"]
    search_fields = ["actor_label", "target_label", "organisation__name", "ip_address"]
    list_select_related = ["organisation"]
    date_hierarchy = "created_at"
