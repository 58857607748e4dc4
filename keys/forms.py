"""Key and access-token forms. They parse and validate; `keys.services` issues, rotates and revokes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from foundation.errors import ValidationFailed
from foundation.fields import NameFormField
from foundation.validators import validate_datetime_range
from keys.models import ApiKey
from keys.services import MAX_CIDRS, ROTATION_GRACE_CHOICES, normalise_cidrs
from portal.models import Api

GRACE_LABELS = {
    "now": "Immediately: the old key stops working now",
    "1h": "In 1 hour",
    "24h": "In 24 hours",
    "7d": "In 7 days",
}
TOKEN_LIFETIMES = {"30": timedelta(days=30), "90": timedelta(days=90), "365": timedelta(days=365), "never": None}


def _name_field(help_text: str) -> forms.CharField:
    return NameFormField(label="Name", max_length=100, help_text=help_text)


class ApiScopeField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Api) -> str:
        return f"{obj.name} ({obj.path_prefix})"


class KeyEditForm(forms.Form):
    """What can change on an existing key without changing its secret."""

    name = _name_field("Where the key is used, e.g. “production server”.")
    allowed_cidrs = forms.CharField(
        label="Allowed IP ranges",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "placeholder": "203.0.113.0/24\n2001:db8::/32"}),
        help_text=f"One IPv4 or IPv6 address or CIDR range per line (at most {MAX_CIDRS}). Empty allows any address.",
    )
    apis = ApiScopeField(
        label="APIs",
        required=False,
        queryset=Api.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave all unticked to allow every API the application is subscribed to.",
    )

    def __init__(self, *args: Any, apis: QuerySet[Api], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["apis"].queryset = apis

    def clean_allowed_cidrs(self) -> list[str]:
        """Validate here too, so every bad line is reported next to the field before anything is saved."""
        lines = [line.strip() for line in self.cleaned_data["allowed_cidrs"].splitlines() if line.strip()]
        try:
            return normalise_cidrs(lines)
        except ValidationFailed as error:
            raise forms.ValidationError(error.field_errors.get("allowed_cidrs") or [error.message]) from None


class KeyCreateForm(KeyEditForm):
    environment = forms.ChoiceField(
        label="Environment",
        choices=[
            (ApiKey.Environment.LIVE, "Live — production traffic"),
            # issue #15: what a test key does at the gateways
            (ApiKey.Environment.TEST, "Test — development and CI: calls the APIs' sandboxes, never your live quota"),
        ],
        initial=ApiKey.Environment.LIVE,
        widget=forms.RadioSelect,
    )
    expires_at = forms.DateTimeField(
        label="Expires at (UTC)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Leave empty for a key that lives until it is revoked.",
        validators=[validate_datetime_range],
    )

    field_order = ["name", "environment", "expires_at", "allowed_cidrs", "apis"]

    def clean_expires_at(self) -> datetime | None:
        """Checked here as well as in the service, so it is reported together with any other mistake."""
        value = self.cleaned_data["expires_at"]
        if value is not None and value <= timezone.now():
            raise forms.ValidationError("Must be in the future.")
        return value


class RotateForm(forms.Form):
    grace = forms.ChoiceField(
        label="When should the current key stop working?",
        choices=[(value, GRACE_LABELS[value]) for value in ROTATION_GRACE_CHOICES],
        initial="24h",
        widget=forms.RadioSelect,
        help_text="Until then both keys work, so you can deploy the new one without downtime.",
    )

    def grace_period(self) -> timedelta:
        return ROTATION_GRACE_CHOICES[self.cleaned_data["grace"]]


class AccessTokenForm(forms.Form):
    name = _name_field("What the token is for, e.g. “CI deploy script”.")
    lifetime = forms.ChoiceField(
        label="Expires",
        choices=[("30", "In 30 days"), ("90", "In 90 days"), ("365", "In 1 year"), ("never", "Never")],
        initial="90",
    )

    def lifetime_delta(self) -> timedelta | None:
        return TOKEN_LIFETIMES[self.cleaned_data["lifetime"]]


class OAuthClientForm(forms.Form):
    name = _name_field("Where the client runs, e.g. “billing backend”.")
    # issue #15: a test client's tokens are treated like test keys
    environment = forms.ChoiceField(
        label="Environment",
        choices=[
            (ApiKey.Environment.LIVE, "Live — production traffic"),
            (ApiKey.Environment.TEST, "Test — development and CI: its tokens call the APIs' sandboxes"),
        ],
        initial=ApiKey.Environment.LIVE,
        required=False,  # a form posted without it (older pages, scripts) creates a live client
        widget=forms.RadioSelect,
    )

    def clean_environment(self) -> str:
        return self.cleaned_data.get("environment") or ApiKey.Environment.LIVE


class OAuthClientRotateForm(RotateForm):
    grace = forms.ChoiceField(
        label="When should the current secret stop working?",
        choices=[(value, GRACE_LABELS[value].replace("old key", "old secret")) for value in ROTATION_GRACE_CHOICES],
        initial="24h",
        widget=forms.RadioSelect,
        help_text="Until then both secrets work, so you can deploy the new one without downtime.",
    )
