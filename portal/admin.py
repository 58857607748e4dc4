"""Admin for tenants, the catalog, applications, subscriptions and the audit trail.

Actions call the same services as the portal, so approvals and suspensions are audited and emailed alike.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from portal import services
from portal.errors import ApplicationError
from portal.models import Api, Application, AuditEvent, Invitation, Membership, Organisation, Plan, Subscription


def _run_per_object(request: HttpRequest, queryset: QuerySet[Any], action: Any, verb: str) -> None:
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


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "is_personal", "created_at"]
    list_filter = ["status", "is_personal"]
    search_fields = ["name", "memberships__user__email"]
    inlines = [MembershipInline]
    actions = ["suspend", "reactivate"]

    @admin.action(description="Suspend selected organisations (their keys stop working)")
    def suspend(self, request: HttpRequest, queryset: QuerySet[Organisation]) -> None:
        _run_per_object(
            request,
            queryset,
            lambda org: services.organisation_set_status(
                organisation=org, status=Organisation.Status.SUSPENDED, actor=request.user
            ),
            "Suspended",
        )

    @admin.action(description="Reactivate selected organisations")
    def reactivate(self, request: HttpRequest, queryset: QuerySet[Organisation]) -> None:
        _run_per_object(
            request,
            queryset,
            lambda org: services.organisation_set_status(
                organisation=org, status=Organisation.Status.ACTIVE, actor=request.user
            ),
            "Reactivated",
        )


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organisation", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "organisation__name"]
    list_select_related = ["user", "organisation"]
    autocomplete_fields = ["user", "organisation"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "organisation", "role", "created_at", "expires_at", "accepted_at", "revoked_at"]
    list_filter = ["role"]
    search_fields = ["email", "organisation__name"]
    list_select_related = ["organisation"]
    readonly_fields = ["organisation", "email", "role", "invited_by", "created_at", "accepted_at"]


class PlanInline(admin.StackedInline):
    model = Plan
    extra = 0
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Api)
class ApiAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "path_prefix", "upstream_url", "visibility"]
    list_filter = ["visibility"]
    search_fields = ["name", "slug", "path_prefix"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [PlanInline]


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "api",
        "rate_per_second",
        "rate_per_minute",
        "quota_per_day",
        "quota_per_month",
        "requires_approval",
        "is_public",
        "display_order",
    ]
    list_filter = ["api", "requires_approval", "is_public", "store_failure_mode"]
    search_fields = ["name", "api__name"]
    list_select_related = ["api"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    list_display = ["name", "organisation", "created_by", "created_at"]
    search_fields = ["name", "organisation__name"]
    list_select_related = ["organisation", "created_by"]
    autocomplete_fields = ["organisation"]
    readonly_fields = ["created_by", "created_at"]


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["application", "api", "plan", "status", "created_at", "activated_at", "blocked_until"]
    list_filter = ["status", "api", "plan"]
    search_fields = ["application__name", "application__organisation__name"]
    list_select_related = ["application", "api", "plan"]
    readonly_fields = [
        "application",
        "api",
        "plan",
        "status",
        "created_at",
        "activated_at",
        "cancelled_at",
        "blocked_until",
        "blocked_reason",
    ]
    actions = ["approve", "reject"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # subscriptions are created by developers, so the rules in the service always apply

    @admin.action(description="Approve selected pending subscriptions")
    def approve(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        _run_per_object(
            request,
            queryset.select_related("application__organisation", "api", "plan"),
            lambda sub: services.subscription_approve(actor=request.user, subscription=sub),
            "Approved",
        )

    @admin.action(description="Reject selected pending subscriptions")
    def reject(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        _run_per_object(
            request,
            queryset.select_related("application__organisation", "api", "plan"),
            lambda sub: services.subscription_reject(actor=request.user, subscription=sub),
            "Rejected",
        )


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: an audit trail that admins could edit would prove nothing."""

    list_display = ["created_at", "action", "actor_label", "organisation", "target_type", "target_label", "ip_address"]
    list_filter = ["action", "target_type"]
    search_fields = ["actor_label", "target_label", "organisation__name", "ip_address"]
    list_select_related = ["organisation"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
