"""Read-only admin of usage: batch records, rollups and quota counters are written by ingest alone.

An edited counter would disagree with the events it summarises and with what the gateways enforced, so staff
may look but not add, change or delete (retention deletes them: analytics.services.storage.usage_storage_maintain).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from analytics.models import IngestedBatch, QuotaUsage, UsageRollup
from foundation.admin import ReadOnlyAdmin
from portal.models import Application


@admin.register(IngestedBatch)
class IngestedBatchAdmin(ReadOnlyAdmin):
    list_display = ["gateway", "sequence", "records", "rejected", "sanitised", "skipped_before", "ingested_at"]
    list_filter = ["gateway"]
    search_fields = ["gateway__name", "=sequence"]
    list_select_related = ["gateway"]
    date_hierarchy = "ingested_at"
    ordering = ["-ingested_at"]
    show_full_result_count = False  # a count(*) over a busy table on every page is wasted work


class ApplicationIdFilter(admin.SimpleListFilter):
    """Rollups keep the application id, not a foreign key: list the applications that have rollups."""

    title = "application"
    parameter_name = "application_id"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        ids = UsageRollup.objects.order_by().values_list("application_id", flat=True).distinct()[:200]
        names = dict(Application.objects.filter(pk__in=list(ids)).values_list("pk", "name"))
        return [(str(i), f"{names.get(i, 'deleted')} ({i})" if i else "none (0)") for i in sorted(ids)]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(application_id=int(value)) if value.isdigit() else queryset.none()


@admin.register(UsageRollup)
class UsageRollupAdmin(ReadOnlyAdmin):
    list_display = [
        "granularity",
        "bucket",
        "organisation_id",
        "application_id",
        "key_id",
        "api_id",
        "status_class",
        "requests",
        "errors",
        "denied",
        "bytes_in",
        "bytes_out",
    ]
    list_filter = ["granularity", ApplicationIdFilter, "status_class"]
    date_hierarchy = "bucket"
    ordering = ["-bucket"]
    show_full_result_count = False


@admin.register(QuotaUsage)
class QuotaUsageAdmin(ReadOnlyAdmin):
    list_display = ["subscription", "period", "start", "used"]
    list_filter = ["period"]
    search_fields = ["subscription__application__name", "subscription__api__name"]
    list_select_related = ["subscription__application", "subscription__api", "subscription__plan"]
    date_hierarchy = "start"
    ordering = ["-start", "subscription_id"]
