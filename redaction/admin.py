"""Staff edit an API's redaction rules here; saves and deletes go through the services, which publish them."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from foundation.admin import ServiceAdmin
from redaction.models import RedactionPolicy
from redaction.services import policy_delete, policy_save


@admin.register(RedactionPolicy)
class RedactionPolicyAdmin(ServiceAdmin):
    list_display = ["api", "detect_cards", "detect_national_ids", "detect_emails", "redact_responses", "updated_at"]
    list_select_related = ["api"]
    autocomplete_fields = ["api"]
    search_fields = ["api__name", "api__slug"]

    def get_readonly_fields(self, request: HttpRequest, obj: RedactionPolicy | None = None) -> list[str]:
        # a policy stays with its API: moving it would leave the old API's rules at the gateways
        return ["api"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: RedactionPolicy, form: ModelForm, change: bool) -> None:
        policy_save(actor=request.user, policy=obj)

    def delete_model(self, request: HttpRequest, obj: RedactionPolicy) -> None:
        policy_delete(actor=request.user, policy=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[RedactionPolicy]) -> None:
        for policy in queryset:
            policy_delete(actor=request.user, policy=policy)
