"""Admin for the gateway fleet: registration (credentials shown once), enable/disable, rotation, the fleet page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from foundation.admin import AuditedModelAdmin
from foundation.errors import ApplicationError
from gateway_sync import selectors, services
from gateway_sync.models import Gateway


@admin.register(Gateway)
class GatewayAdmin(AuditedModelAdmin):
    list_display = ["name", "enabled", "health", "applied_version", "last_heartbeat_at", "last_pushed_at", "last_error"]
    list_filter = ["enabled", "health"]
    search_fields = ["name", "admin_url"]
    change_list_template = "gateway_sync/admin/change_list.html"
    formfield_overrides = {models.URLField: {"assume_scheme": "http"}}
    actions = ["enable", "disable", "rotate_credentials"]
    readonly_fields = [
        "enabled",
        "oauth_client_id",
        "health",
        "applied_version",
        "last_heartbeat_at",
        "last_pushed_at",
        "counters",
        "last_error",
        "last_error_at",
        "last_error_source",
        "log_cursor",
        "log_collected_at",
        "created_at",
    ]

    def get_fields(self, request: HttpRequest, obj: Gateway | None = None) -> list[str]:
        if obj is None:
            return ["name", "admin_url"]
        return ["name", "admin_url", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Gateway | None = None) -> list[str]:
        return [] if obj is None else ["name", *self.readonly_fields]

    @admin.display(description="OAuth2 client id")
    def oauth_client_id(self, obj: Gateway) -> str:
        return obj.oauth_application.client_id if obj.oauth_application else "-"

    def save_model(self, request: HttpRequest, obj: Gateway, form: ModelForm, change: bool) -> None:
        if change:
            services.gateway_update(gateway=obj, admin_url=obj.admin_url)
            return
        gateway, client_id, client_secret, push_secret = services.gateway_register(
            name=obj.name, admin_url=obj.admin_url
        )
        obj.pk = gateway.pk
        request._gateway_credentials = services.GatewayCredentials(client_id, client_secret, push_secret)  # type: ignore[attr-defined]

    def response_add(self, request: HttpRequest, obj: Gateway, post_url_continue: str | None = None) -> HttpResponse:
        # The secrets are rendered into this one answer and never stored in a message, cookie or session.
        return self._credentials_page(request, obj, request._gateway_credentials)  # type: ignore[attr-defined]

    def delete_model(self, request: HttpRequest, obj: Gateway) -> None:
        services.gateway_delete(gateway=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Gateway]) -> None:
        for gateway in queryset.select_related("oauth_application"):
            services.gateway_delete(gateway=gateway)

    def _credentials_page(
        self, request: HttpRequest, gateway: Gateway, credentials: services.GatewayCredentials
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": f"Credentials for {gateway.name}",
            "gateway": gateway,
            "credentials": credentials,
            "opts": self.model._meta,
        }
        response = TemplateResponse(request, "gateway_sync/admin/credentials.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Enable selected gateways")
    def enable(self, request: HttpRequest, queryset: QuerySet[Gateway]) -> None:
        for gateway in queryset:
            services.gateway_set_enabled(gateway=gateway, enabled=True)
        messages.success(request, f"Enabled {queryset.count()} gateway(s).")

    @admin.action(description="Disable selected gateways (no pushes; their tokens are refused)")
    def disable(self, request: HttpRequest, queryset: QuerySet[Gateway]) -> None:
        for gateway in queryset:
            services.gateway_set_enabled(gateway=gateway, enabled=False)
        messages.success(request, f"Disabled {queryset.count()} gateway(s).")

    @admin.action(description="Rotate credentials (one gateway; shown once)")
    def rotate_credentials(self, request: HttpRequest, queryset: QuerySet[Gateway]) -> HttpResponse | None:
        if queryset.count() != 1:
            messages.warning(request, "Select exactly one gateway: its new credentials are shown once.")
            return None
        gateway = queryset.get()
        try:
            credentials = services.gateway_rotate_credentials(gateway=gateway)
        except ApplicationError as error:
            messages.warning(request, error.message)
            return None
        return self._credentials_page(request, gateway, credentials)

    def get_urls(self) -> list[URLPattern]:
        fleet = path("fleet/", self.admin_site.admin_view(self.fleet_view), name="gateway_sync_gateway_fleet")
        return [fleet, *super().get_urls()]

    def fleet_view(self, request: HttpRequest) -> HttpResponse:
        """Staff-only: health, drift against the feed, heartbeat age, log lag and last error of every gateway."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        current, rows = selectors.fleet_status(now=timezone.now())
        context = {
            **self.admin_site.each_context(request),
            "title": "Gateway fleet",
            "current_version": current,
            "rows": rows,
            "clock_alarm_seconds": settings.PORTICO_GATEWAY_CLOCK_ALARM_SECONDS,
            "opts": self.model._meta,
            "changelist_url": reverse("admin:gateway_sync_gateway_changelist"),
        }
        return TemplateResponse(request, "gateway_sync/admin/fleet.html", context)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {"fleet_url": reverse("admin:gateway_sync_gateway_fleet"), **(extra_context or {})}
        return super().changelist_view(request, extra)
