"""Admin for keys and access tokens: staff see prefixes and states, never secrets or digests."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from foundation.admin import AuditedModelAdmin, run_per_object
from keys import services
from keys.models import ApiKey, OAuthClient, PersonalAccessToken, SigningKey
from keys.services import clients as client_services


@admin.register(ApiKey)
class ApiKeyAdmin(AuditedModelAdmin):
    list_display = [
        "name",
        "masked",
        "application",
        "environment",
        "status",
        "expires_at",
        "last_used_at",
        "created_at",
    ]
    list_filter = ["status", "environment"]
    search_fields = ["name", "prefix", "application__name", "application__organisation__name"]
    list_select_related = ["application"]
    fields = [
        "application",
        "name",
        "environment",
        "masked",
        "status",
        "created_at",
        "created_by",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "allowed_cidrs",
        "apis",
        "replaced_by",
    ]
    # Only the name is edited here (through key_update); everything else changes through the key services.
    readonly_fields = [field for field in fields if field != "name"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a key made here could not be shown to its owner; issue keys from the portal or API

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the revocation reaches the gateways, a deleted row would not

    def save_model(self, request: HttpRequest, obj: ApiKey, form: ModelForm, change: bool) -> None:
        services.key_update(actor=request.user, key=obj, name=obj.name)  # the only editable field

    @admin.action(description="Revoke selected keys now")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        run_per_object(request, queryset, lambda key: services.key_revoke(actor=request.user, key=key), "Revoked")


@admin.register(PersonalAccessToken)
class PersonalAccessTokenAdmin(AuditedModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "expires_at", "revoked_at", "last_used_at"]
    search_fields = ["name", "prefix", "user__email"]
    list_select_related = ["user"]
    fields = ["user", "name", "prefix", "last4", "created_at", "expires_at", "revoked_at", "last_used_at"]
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke selected tokens now")
    def revoke(self, request: HttpRequest, queryset: QuerySet[PersonalAccessToken]) -> None:
        run_per_object(
            request,
            queryset.select_related("user"),
            lambda token: services.access_token_revoke_by_staff(staff=request.user, token=token),
            "Revoked",
        )


@admin.register(OAuthClient)
class OAuthClientAdmin(AuditedModelAdmin):
    """Staff revoke a leaked client here (with its tokens); secrets and digests are never shown."""

    list_display = ["name", "client_id", "application", "masked_secret", "created_at", "revoked_at", "last_used_at"]
    search_fields = ["name", "client_id", "application__name", "application__organisation__name"]
    list_select_related = ["application"]
    fields = [
        "application",
        "name",
        "client_id",
        "masked_secret",
        "created_at",
        "created_by",
        "rotated_at",
        "previous_secret_expires_at",
        "revoked_at",
        "last_used_at",
    ]
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a secret made here could not be shown to its owner

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the revocation reaches the gateways, a deleted row would not

    @admin.action(description="Revoke selected clients and their tokens now")
    def revoke(self, request: HttpRequest, queryset: QuerySet[OAuthClient]) -> None:
        run_per_object(
            request,
            queryset,
            lambda client: client_services.oauth_client_revoke(actor=request.user, client=client),
            "Revoked",
        )


@admin.register(SigningKey)
class SigningKeyAdmin(AuditedModelAdmin):
    """Read-only: keys are made and retired by `rotate_signing_key` and the schedule (docs/oauth.md)."""

    list_display = ["kid", "algorithm", "created_at", "activates_at", "retires_at", "published_until"]
    fields = ["kid", "algorithm", "public_jwk", "created_at", "activates_at", "retires_at", "published_until"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
