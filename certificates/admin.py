"""Admin: staff see client certificates and revoke them; an API's mTLS policy is set here (through the services,
so every change reaches the gateways)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from certificates import services
from certificates.forms import MtlsPolicyForm, UpstreamCertificateForm
from certificates.models import ClientCertificate, MtlsPolicy, UpstreamCertificate
from foundation.admin import AuditedModelAdmin, run_per_object


@admin.register(ClientCertificate)
class ClientCertificateAdmin(AuditedModelAdmin):
    list_display = ["name", "application", "fingerprint", "not_after", "revoked_at", "created_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "fingerprint", "subject", "application__name", "application__organisation__name"]
    list_select_related = ["application"]
    fields = [
        "application",
        "name",
        "fingerprint",
        "subject",
        "issuer",
        "serial",
        "not_before",
        "not_after",
        "created_at",
        "created_by",
        "revoked_at",
        "pem",
    ]
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # registered from the portal or the REST API, where the application's members are

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the revocation reaches the gateways, a deleted row would not

    @admin.action(description="Revoke selected certificates now")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ClientCertificate]) -> None:
        run_per_object(
            request, queryset, lambda cert: services.certificate_revoke(actor=request.user, certificate=cert), "Revoked"
        )


@admin.register(MtlsPolicy)
class MtlsPolicyAdmin(AuditedModelAdmin):
    form = MtlsPolicyForm
    list_display = ["api", "mode", "updated_at"]
    list_select_related = ["api"]
    fields = ["api", "mode", "ca_pem"]

    def get_readonly_fields(self, request: HttpRequest, obj: MtlsPolicy | None = None) -> list[str]:
        return ["api"] if obj else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # set the mode to off instead, which reaches the gateways

    def save_model(self, request: HttpRequest, obj: MtlsPolicy, form: ModelForm, change: bool) -> None:
        saved = services.mtls_policy_set(actor=request.user, api=obj.api, mode=obj.mode, ca_pem=obj.ca_pem)
        obj.pk = saved.pk


@admin.register(UpstreamCertificate)
class UpstreamCertificateAdmin(AuditedModelAdmin):
    """The client certificate an API presents to its upstream; the key is write-only (stored encrypted)."""

    form = UpstreamCertificateForm
    list_display = ["api", "subject", "fingerprint", "not_after", "updated_at"]
    list_select_related = ["api"]
    readonly_fields = ["fingerprint", "subject", "not_after"]

    def get_fields(self, request: HttpRequest, obj: UpstreamCertificate | None = None) -> list[str]:
        return ["api", "certificate_pem", "key_pem", *self.readonly_fields]

    def save_model(self, request: HttpRequest, obj: UpstreamCertificate, form: ModelForm, change: bool) -> None:
        saved = services.upstream_certificate_set(
            actor=request.user,
            api=obj.api,
            certificate_pem=form.cleaned_data["certificate_pem"],
            key_pem=form.cleaned_data["key_pem"],
        )
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: UpstreamCertificate) -> None:
        services.upstream_certificate_remove(actor=request.user, api=obj.api)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is not None  # one at a time, through the service (the bulk action would bypass it)
