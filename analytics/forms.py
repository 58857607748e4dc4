"""The usage page's query: which period to show."""

from __future__ import annotations

from django import forms

from analytics.selectors import PERIODS

DEFAULT_PERIOD = "day"


class UsagePeriodForm(forms.Form):
    """`?period=hour|day|month`; anything else is refused and the page falls back to the default."""

    period = forms.ChoiceField(choices=[(name, label) for name, (_, _, label) in PERIODS.items()], required=False)

    def period_or_default(self) -> str:
        if self.is_valid():
            return self.cleaned_data["period"] or DEFAULT_PERIOD
        return DEFAULT_PERIOD
