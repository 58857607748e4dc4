"""Read-only admin of usage: batch records, rollups and quota counters are written by ingest alone.

An edited counter would disagree with the events it summarises and with what the gateways enforced, so staff
may look but not add, change or delete (retention deletes them: analytics.services.storage.usage_storage_maintain).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from analytics.forms import STAFF_RANGES, StaffRangeForm
from analytics.models import IngestedBatch, QuotaUsage, UsageRollup
from analytics.selectors import floor_to
from analytics.selectors import staff as staff_selectors
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
        "operation",
        "status_class",
        "requests",
        "errors",
        "denied",
        "auth_failures",
        "throttled",
        "bytes_in",
        "bytes_out",
    ]
    list_filter = ["granularity", ApplicationIdFilter, "status_class"]
    date_hierarchy = "bucket"
    ordering = ["-bucket"]
    show_full_result_count = False
    change_list_template = "analytics/admin/rollup_change_list.html"

    def get_urls(self) -> list[URLPattern]:
        overview = path(
            "overview/", self.admin_site.admin_view(self.overview_view), name="analytics_usagerollup_overview"
        )
        return [overview, *super().get_urls()]

    def overview_view(self, request: HttpRequest) -> HttpResponse:
        """Staff-only: top consumers, traffic per API, plan and gateway, and quota pressure, over a time range."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = StaffRangeForm(request.GET)
        name = form.range_or_default()
        label, granularity, span = STAFF_RANGES[name]
        now = timezone.now()
        end = floor_to(now, granularity) + (timedelta(hours=1) if granularity == "hour" else timedelta(days=1))
        start = end - span
        with staff_selectors.heavy_reads():
            groups = staff_selectors.rollup_groups(granularity=granularity, start=start, end=end)
            context = {
                **self.admin_site.each_context(request),
                "title": "Usage overview",
                "form": form,
                "range": name,
                "range_label": label,
                "ranges": [(n, lbl) for n, (lbl, _, _) in STAFF_RANGES.items()],
                "start": start,
                "end": end,
                "gateway_start": max(start, end - staff_selectors.GATEWAY_WINDOW),
                "top_requests": staff_selectors.top_consumers(groups=groups, by="requests"),
                "top_errors": staff_selectors.top_consumers(groups=groups, by="errors"),
                "per_api": staff_selectors.traffic_per_api(groups=groups),
                "per_plan": staff_selectors.traffic_per_plan(groups=groups),
                "per_gateway": staff_selectors.traffic_per_gateway(start=start, end=end),
                "quotas": staff_selectors.quota_pressure(now=now),
                "quota_near": int(staff_selectors.QUOTA_NEAR * 100),
                "changelist_url": reverse("admin:analytics_usagerollup_changelist"),
            }
        return TemplateResponse(request, "analytics/admin/overview.html", context)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {"overview_url": reverse("admin:analytics_usagerollup_overview"), **(extra_context or {})}
        return super().changelist_view(request, extra)


@admin.register(QuotaUsage)
class QuotaUsageAdmin(ReadOnlyAdmin):
    list_display = ["subscription", "period", "start", "used"]
    list_filter = ["period"]
    search_fields = ["subscription__application__name", "subscription__api__name"]
    list_select_related = ["subscription__application", "subscription__api", "subscription__plan"]
    date_hierarchy = "start"
    ordering = ["-start", "subscription_id"]
