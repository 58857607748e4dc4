"""Portal forms: they validate and translate input only; the services make every change.

Field names match the keys of the services' `field_errors`, so a refusal lands next to the right field.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from foundation.fields import NameFormField
from foundation.validators import validate_no_control_chars
from portal.models import Application, Plan, Role

ROLE_HELP = {
    Role.OWNER: "Full control, including roles and removing admins.",
    Role.ADMIN: "Manages members, applications and sees the audit log.",
    Role.MEMBER: "Creates applications, subscriptions and keys.",
}


def _name_field(label: str, *, max_length: int = 100, help_text: str = "") -> forms.CharField:
    """A user-chosen name, held to the one rule for names (foundation.validators.validate_name)."""
    return NameFormField(label=label, max_length=max_length, help_text=help_text)


class OrganisationForm(forms.Form):
    name = _name_field("Name", help_text="Shown to members and in invitations.")


class InvitationForm(forms.Form):
    email = forms.EmailField(label="Email address", max_length=254)
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.MEMBER)

    def __init__(self, *args: Any, can_invite_owners: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not can_invite_owners:
            # Only owners may invite owners; offering the choice would only produce a refusal.
            self.fields["role"].choices = [c for c in Role.choices if c[0] != Role.OWNER]


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=Role.choices)


class ApplicationForm(forms.Form):
    name = _name_field("Name", help_text="For example the service or website that will call the APIs.")
    description = forms.CharField(
        label="Description",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        validators=[validate_no_control_chars],
    )


def plan_label(plan: Plan) -> str:
    """ "Pro — $49 / month (needs approval)"; a price that only repeats the name ("Free — Free") is left out."""
    price = plan.price_label.strip()
    label = plan.name if not price or price.lower() == plan.name.lower() else f"{plan.name} — {price}"
    return f"{label} (needs approval)" if plan.requires_approval else label


class PlanChoiceField(forms.ModelChoiceField):
    """Plans labelled with their API, so one list can offer the plans of several APIs."""

    def label_from_instance(self, obj: Plan) -> str:
        return f"{obj.api.name} · {plan_label(obj)}"


class SubscribeForm(forms.Form):
    """Subscribe one application to one of the plans offered (the queryset is scoped by the view)."""

    plan = PlanChoiceField(label="Plan", queryset=Plan.objects.none(), empty_label="Choose an API and plan…")

    def __init__(self, *args: Any, plans: QuerySet[Plan], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["plan"].queryset = plans.select_related("api")


class CatalogSubscribeForm(forms.Form):
    """Subscribe from an API's page: which of the user's applications, on which plan."""

    application = forms.ModelChoiceField(
        label="Application", queryset=Application.objects.none(), empty_label="Choose an application…"
    )
    plan = forms.ModelChoiceField(label="Plan", queryset=Plan.objects.none(), empty_label=None)

    def __init__(self, *args: Any, applications: QuerySet[Application], plans: QuerySet[Plan], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["application"].queryset = applications
        self.fields["application"].label_from_instance = lambda app: f"{app.name} ({app.organisation.name})"
        self.fields["plan"].queryset = plans
        self.fields["plan"].label_from_instance = plan_label


class ChangePlanForm(forms.Form):
    plan = forms.ModelChoiceField(label="Plan", queryset=Plan.objects.none(), empty_label=None)

    def __init__(self, *args: Any, plans: QuerySet[Plan], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["plan"].queryset = plans
        self.fields["plan"].label_from_instance = plan_label


class AuditFilterForm(forms.Form):
    """The audit log's action filter, for display: the view filters by the raw value."""

    action = forms.ChoiceField(label="Action", required=False)

    def __init__(self, *args: Any, actions: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "All actions"), *[(a, a) for a in actions]]
