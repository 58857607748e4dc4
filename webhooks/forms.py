"""Portal forms for webhook endpoints: shape checks only; the service decides what a URL may be."""

from __future__ import annotations

from django import forms

from webhooks.models import SUBSCRIBABLE_EVENTS, EventType

EVENT_CHOICES = [(value, f"{value} — {EventType(value).label}") for value in SUBSCRIBABLE_EVENTS]


class EndpointForm(forms.Form):
    url = forms.URLField(
        label="Endpoint URL",
        max_length=2000,
        assume_scheme="https",
        help_text="An https:// URL on a public host. Each delivery is a signed POST of JSON.",
    )
    description = forms.CharField(label="Description", max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        label="Events", choices=EVENT_CHOICES, widget=forms.CheckboxSelectMultiple, initial=SUBSCRIBABLE_EVENTS
    )
