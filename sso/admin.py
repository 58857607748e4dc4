"""Admin for SSO providers: allauth's SocialApp with an encrypted, write-only client secret, and Portico's policy
(allowed domains, linking, membership rules) beside it. Every change is audited (foundation.admin)."""

from __future__ import annotations

from typing import Any

from allauth.socialaccount.models import SocialApp
from django import forms
from django.contrib import admin
from django.http import HttpRequest

from foundation.admin import AuditedModelAdmin
from sso.models import SsoMembershipRule, SsoPolicy
from sso.services import MAX_SECRET_BYTES, PROVIDER, sso_app_store


class SocialAppForm(forms.ModelForm):
    """The protocol side of one provider. The secret is never shown again; leave it empty to keep it."""

    server_url = forms.URLField(
        label="Issuer URL",
        assume_scheme="https",
        help_text="The provider's issuer; /.well-known/openid-configuration is read from under it.",
    )
    new_secret = forms.CharField(
        label="Client secret",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),  # not the admin's own
        help_text=f"Stored encrypted; up to {MAX_SECRET_BYTES} bytes. Leave empty to keep the current one.",
    )

    class Meta:
        model = SocialApp
        fields = ["name", "provider_id", "client_id"]
        help_texts = {
            "name": 'Shown on the login page as "Log in with" and this name.',
            "provider_id": "A short id, part of the callback URL: /accounts/oidc/ID/login/callback/.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider_id"].required = True
        self.fields["server_url"].initial = (self.instance.settings or {}).get("server_url", "")
        if not self.instance.pk:
            self.fields["new_secret"].required = True

    def clean_new_secret(self) -> str:
        secret: str = self.cleaned_data["new_secret"]
        if len(secret.encode()) > MAX_SECRET_BYTES:
            raise forms.ValidationError(f"At most {MAX_SECRET_BYTES} bytes can be stored encrypted.")
        return secret


class SsoProviderAdmin(AuditedModelAdmin):
    form = SocialAppForm
    list_display = ["name", "provider_id", "client_id"]
    fields = ["name", "provider_id", "server_url", "client_id", "new_secret"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).filter(provider=PROVIDER)

    def save_model(self, request: HttpRequest, obj: SocialApp, form: Any, change: bool) -> None:
        sso_app_store(app=obj, server_url=form.cleaned_data["server_url"], secret=form.cleaned_data["new_secret"])


# Replaces allauth's, which shows and stores the client secret in clear.
admin.site.unregister(SocialApp)
admin.site.register(SocialApp, SsoProviderAdmin)


class SsoMembershipRuleInline(admin.TabularInline):
    model = SsoMembershipRule
    extra = 1
    fields = ["domain", "organisation", "role"]
    raw_id_fields = ["organisation"]


@admin.register(SsoPolicy)
class SsoPolicyAdmin(AuditedModelAdmin):
    list_display = ["app", "link_existing_accounts", "created_at"]
    fields = ["app", "allowed_domains", "link_existing_accounts"]
    inlines = [SsoMembershipRuleInline]
