"""The email preferences form: one checkbox per kind, all on unless the user turned one off."""

from __future__ import annotations

from typing import Any

from django import forms

from notifications.models import Kind


class PreferencesForm(forms.Form):
    """Which notification emails a user wants."""

    def __init__(self, *args: Any, opted_out: set[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for kind in Kind:
            self.fields[kind.value] = forms.BooleanField(
                label=kind.label, required=False, initial=kind.value not in opted_out
            )
