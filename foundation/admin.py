"""Admin building blocks every app uses, and the audit trail's read-only admin.

Every ModelAdmin derives from `AuditedModelAdmin`, so each add, change and delete a staff member makes in the
admin is in the audit trail with them as actor (tests/portal/test_admin_audit.py checks every registered one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)

from foundation.audit import audit_record
from foundation.errors import ApplicationError
from foundation.models import TENANT_MODEL, AuditEvent


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


def _organisation_of(obj: models.Model) -> models.Model | None:
    """The organisation an object belongs to, so its owners see staff changes in their own audit log."""
    if obj._meta.label == TENANT_MODEL:
        return obj
    organisation = getattr(obj, "organisation", None)
    return organisation if isinstance(organisation, models.Model) else None


class AuditedModelAdmin(admin.ModelAdmin):
    """Records the admin's own log (adds, changes, deletes) in the audit trail too, with the staff member as actor.

    The admin saves and deletes in a transaction that includes these calls, so a refused change leaves no event;
    actions (such as "delete selected") are made atomic here for the same reason.
    """

    def _audit(self, request: HttpRequest, obj: models.Model, verb: str, message: Any = None) -> None:
        data: dict[str, Any] = {"model": obj._meta.label}
        if message:
            data["changes"] = message  # field names only (Django's change message), never values
        audit_record(
            action=f"admin.{verb}", actor=request.user, organisation=_organisation_of(obj), target=obj, data=data
        )

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        self._audit(request, obj, "added", message)
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        self._audit(request, obj, "changed", message)
        return super().log_change(request, obj, message)

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        for obj in queryset:
            self._audit(request, obj, "deleted")
        return super().log_deletions(request, queryset)

    def response_action(self, request: HttpRequest, queryset: QuerySet[Any], *args: Any, **kwargs: Any) -> Any:
        with transaction.atomic():
            return super().response_action(request, queryset, *args, **kwargs)


def audit_every_model_admin(site: admin.AdminSite) -> None:
    """Give admins registered by libraries (users, groups, email addresses, authenticators) the same audit."""
    for model, model_admin in list(site._registry.items()):
        if not isinstance(model_admin, AuditedModelAdmin):
            audited = type(f"Audited{type(model_admin).__name__}", (AuditedModelAdmin, type(model_admin)), {})
            site.unregister(model)
            site.register(model, audited)


class ServiceAdmin(AuditedModelAdmin):
    """An admin whose saves and deletes call services: a refusal (ApplicationError) is a message, not a 500."""

    def _refused(self, request: HttpRequest, error: ApplicationError) -> HttpResponseRedirect:
        messages.error(request, error.message)
        return HttpResponseRedirect(request.get_full_path())

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ApplicationError as error:  # the admin's transaction has rolled back by now
            return self._refused(request, error)

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except ApplicationError as error:
            return self._refused(request, error)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        try:
            return super().changelist_view(request, extra_context)
        except ApplicationError as error:  # "delete selected" runs delete_queryset here
            return self._refused(request, error)


class ReadOnlyAdmin(AuditedModelAdmin):
    """Viewable, never writable: for records only the system writes (audit trail, usage)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# django-oauth-toolkit's own screens would let staff edit gateway OAuth clients and tokens behind the services
# (registration, rotation); gateways are managed on their own admin page instead.
for model in (
    get_access_token_model(),
    get_application_model(),
    get_grant_model(),
    get_id_token_model(),
    get_refresh_token_model(),
):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read-only: an audit trail that admins could edit would prove nothing."""

    list_display = ["created_at", "action", "actor_label", "organisation", "target_type", "target_label", "ip_address"]
    list_filter = ["action", "target_type"]
    search_fields = ["actor_label", "target_label", "organisation__name", "ip_address"]
    list_select_related = ["organisation"]
    date_hierarchy = "created_at"
