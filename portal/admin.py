"""Admin for tenants, the catalog, applications and subscriptions.

Actions call the same services as the portal, so approvals and suspensions are audited and emailed alike. Every
write that gateways enforce (catalog edits, statuses) goes through a service, which publishes it to the change
feed; rows whose deletion would bypass that (organisations, applications, subscriptions) are not deletable here.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest

from foundation.admin import AuditedModelAdmin, ServiceAdmin, run_per_object
from portal.models import Api, Application, Invitation, Membership, Organisation, Plan, Subscription
from portal.services.applications import subscription_approve, subscription_cancel, subscription_reject
from portal.services.catalog import api_delete, api_save, plan_delete, plan_save
from portal.services.organisations import (
    membership_change_role_by_staff,
    membership_remove_by_staff,
    organisation_set_status,
)
from protection.admin import ApiProtectionInline
from protection.models import ApiProtection
from protection.services.signatures import api_signatures_save
from protection.services.validation import api_protection_save


class MembershipInline(admin.TabularInline):
    """Members at a glance; roles are changed on each membership's own page, through the membership services."""

    model = Membership
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # people join through invitations, which they accept themselves

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Organisation)
class OrganisationAdmin(AuditedModelAdmin):
    list_display = ["name", "status", "is_personal", "created_at"]
    list_filter = ["status", "is_personal"]
    search_fields = ["name", "memberships__user__email"]
    inlines = [MembershipInline]
    actions = ["suspend", "reactivate"]
    readonly_fields = ["status"]  # changed by the actions, which publish it to the gateways

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # suspend instead: a deletion would cascade to keys without telling the gateways

    @admin.action(description="Suspend selected organisations (their keys stop working)")
    def suspend(self, request: HttpRequest, queryset: QuerySet[Organisation]) -> None:
        run_per_object(
            request,
            queryset,
            lambda org: organisation_set_status(
                organisation=org, status=Organisation.Status.SUSPENDED, actor=request.user
            ),
            "Suspended",
        )

    @admin.action(description="Reactivate selected organisations")
    def reactivate(self, request: HttpRequest, queryset: QuerySet[Organisation]) -> None:
        run_per_object(
            request,
            queryset,
            lambda org: organisation_set_status(
                organisation=org, status=Organisation.Status.ACTIVE, actor=request.user
            ),
            "Reactivated",
        )


@admin.register(Membership)
class MembershipAdmin(ServiceAdmin):
    """Staff change roles and remove members through the services, so the one-owner rule and the audit trail hold."""

    list_display = ["user", "organisation", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "organisation__name"]
    list_select_related = ["user", "organisation"]
    fields = ["user", "organisation", "role", "created_at"]
    readonly_fields = ["user", "organisation", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # people join through invitations, which they accept themselves

    def save_model(self, request: HttpRequest, obj: Membership, form: ModelForm, change: bool) -> None:
        membership_change_role_by_staff(staff=request.user, target=obj, role=obj.role)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        membership_remove_by_staff(staff=request.user, target=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        with transaction.atomic():  # all or none: a refusal (a last owner) keeps every selected member
            for membership in queryset.select_related("organisation", "user"):
                membership_remove_by_staff(staff=request.user, target=membership)


@admin.register(Invitation)
class InvitationAdmin(AuditedModelAdmin):
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
class ApiAdmin(ServiceAdmin):
    list_display = ["name", "version", "path_prefix", "upstream_url", "visibility"]
    list_filter = ["visibility"]
    search_fields = ["name", "slug", "path_prefix"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [PlanInline, ApiProtectionInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def save_model(self, request: HttpRequest, obj: Api, form: ModelForm, change: bool) -> None:
        api_save(actor=request.user, api=obj)

    def delete_model(self, request: HttpRequest, obj: Api) -> None:
        api_delete(actor=request.user, api=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Api]) -> None:
        for api in queryset:
            api_delete(actor=request.user, api=api)

    def save_formset(self, request: HttpRequest, form: ModelForm, formset: BaseInlineFormSet, change: bool) -> None:
        if formset.model is ApiProtection:
            formset.save(commit=False)  # writes nothing; sets what the admin's change message reads
            for protection_form in formset.forms:
                changed, data = protection_form.changed_data, protection_form.cleaned_data
                if "validation_mode" in changed:
                    mode = data["validation_mode"]
                    api_protection_save(actor=request.user, api=form.instance, validation_mode=mode)
                if "signatures_mode" in changed:
                    api_signatures_save(actor=request.user, api=form.instance, signatures_mode=data["signatures_mode"])
            return
        if formset.model is not Plan:
            super().save_formset(request, form, formset, change)
            return
        plans = formset.save(commit=False)
        for plan in formset.deleted_objects:
            plan_delete(actor=request.user, plan=plan)
        for plan in plans:
            plan_save(actor=request.user, plan=plan)
        formset.save_m2m()


@admin.register(Plan)
class PlanAdmin(ServiceAdmin):
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
    list_filter = ["api", "requires_approval", "is_public", "store_failure_mode", "quota_scope", "rate_scope"]
    search_fields = ["name", "api__name"]
    list_select_related = ["api"]
    prepopulated_fields = {"slug": ["name"]}

    def save_model(self, request: HttpRequest, obj: Plan, form: ModelForm, change: bool) -> None:
        plan_save(actor=request.user, plan=obj)

    def delete_model(self, request: HttpRequest, obj: Plan) -> None:
        plan_delete(actor=request.user, plan=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Plan]) -> None:
        for plan in queryset:
            plan_delete(actor=request.user, plan=plan)


@admin.register(Application)
class ApplicationAdmin(AuditedModelAdmin):
    list_display = ["name", "organisation", "created_by", "created_at"]
    search_fields = ["name", "organisation__name"]
    list_select_related = ["organisation", "created_by"]
    autocomplete_fields = ["organisation"]
    readonly_fields = ["created_by", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Moving an application to another organisation would change its keys at the edge behind the feed's back.
        return [*self.readonly_fields, "organisation"] if obj is not None else list(self.readonly_fields)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # its keys and subscriptions would vanish without the gateways hearing of it


class AwaitingDecisionFilter(admin.SimpleListFilter):
    """New subscriptions and plan changes that wait for staff, in one list."""

    title = "awaiting a decision"
    parameter_name = "awaiting"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> QuerySet[Subscription]:
        if self.value() == "yes":
            return queryset.filter(Q(status=Subscription.Status.PENDING) | Q(requested_plan__isnull=False))
        return queryset


@admin.register(Subscription)
class SubscriptionAdmin(AuditedModelAdmin):
    list_display = ["application", "api", "plan", "requested_plan", "status", "created_at", "blocked_until"]
    list_filter = [AwaitingDecisionFilter, "status", "api", "plan"]
    search_fields = ["application__name", "application__organisation__name"]
    list_select_related = ["application", "api", "plan", "requested_plan"]
    readonly_fields = [
        "application",
        "api",
        "plan",
        "requested_plan",
        "plan_requested_at",
        "status",
        "created_at",
        "activated_at",
        "cancelled_at",
        "blocked_until",
        "blocked_reason",
    ]
    actions = ["approve", "reject", "cancel"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # subscriptions are created by developers, so the rules in the service always apply

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # cancel instead, which the gateways hear about

    @admin.action(description="Cancel selected subscriptions")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        run_per_object(
            request,
            queryset,
            lambda sub: subscription_cancel(actor=request.user, subscription=sub),
            "Cancelled",
        )

    @admin.action(description="Approve selected pending subscriptions and plan changes")
    def approve(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        run_per_object(
            request,
            queryset.select_related("application__organisation", "api", "plan"),
            lambda sub: subscription_approve(actor=request.user, subscription=sub),
            "Approved",
        )

    @admin.action(description="Reject selected pending subscriptions and plan changes")
    def reject(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        run_per_object(
            request,
            queryset.select_related("application__organisation", "api", "plan"),
            lambda sub: subscription_reject(actor=request.user, subscription=sub),
            "Rejected",
        )
