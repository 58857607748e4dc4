"""The usage pages' queries: which period to show, and the request log's filters."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any, cast

from django import forms

from analytics.selectors import PERIODS, RequestLogFilter
from analytics.services.records import DENIAL_CAUSES
from foundation.validators import DATETIME_RANGE_TEXT, datetime_in_range

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class _DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M")


DEFAULT_PERIOD = "day"


class UsagePeriodForm(forms.Form):
    """`?period=hour|day|month&key=<id>` or `&client=<id>`; a bad value is refused and the page falls back to its
    default (the default period; all keys and clients). The choices are the application's own keys and OAuth
    clients, so another's id is never valid."""

    period = forms.ChoiceField(choices=[(name, label) for name, (_, _, label) in PERIODS.items()], required=False)
    key = forms.TypedChoiceField(label="Key", coerce=int, empty_value=None, required=False)
    client = forms.TypedChoiceField(label="OAuth client", coerce=int, empty_value=None, required=False)

    def __init__(
        self, data: Any, *, keys: Iterable[tuple[int, str]] = (), clients: Iterable[tuple[int, str]] = ()
    ) -> None:
        super().__init__(data)
        cast(forms.ChoiceField, self.fields["key"]).choices = [("", "All keys"), *[(str(k), n) for k, n in keys]]
        cast(forms.ChoiceField, self.fields["client"]).choices = [
            ("", "All clients"),
            *[(str(c), n) for c, n in clients],
        ]

    def period_or_default(self) -> str:
        self.is_valid()  # cleaned_data keeps the fields that are valid, so a bad key does not reset the period
        return self.cleaned_data.get("period") or DEFAULT_PERIOD

    def key_or_none(self) -> int | None:
        self.is_valid()
        key: int | None = self.cleaned_data.get("key")
        return key

    def client_or_none(self) -> int | None:
        """The OAuth client picked, unless a key is (one credential at a time)."""
        self.is_valid()
        client: int | None = self.cleaned_data.get("client")
        return None if self.cleaned_data.get("key") is not None else client


# The staff overview's time ranges: a name, its label, the rollup granularity read and how far back it looks.
STAFF_RANGES: dict[str, tuple[str, str, timedelta]] = {
    "24h": ("Last 24 hours", "hour", timedelta(days=1)),
    "7d": ("Last 7 days", "hour", timedelta(days=7)),
    "30d": ("Last 30 days", "day", timedelta(days=30)),
    "90d": ("Last 90 days", "day", timedelta(days=90)),
}
DEFAULT_STAFF_RANGE = "7d"


class StaffRangeForm(forms.Form):
    """`?range=24h|7d|30d|90d` on the staff overview; anything else shows the default with a notice."""

    range = forms.ChoiceField(choices=[(name, label) for name, (label, _, _) in STAFF_RANGES.items()], required=False)

    def range_or_default(self) -> str:
        self.is_valid()
        return self.cleaned_data.get("range") or DEFAULT_STAFF_RANGE


class RequestLogForm(forms.Form):
    """The request-log page's filters (GET); each is optional, and they combine with AND."""

    status_class = forms.TypedChoiceField(
        label="Status class",
        choices=[("", "Any"), *[(str(n), f"{n}xx") for n in range(1, 6)]],
        coerce=int,
        empty_value=None,
        required=False,
    )
    status = forms.IntegerField(label="Status", min_value=100, max_value=599, required=False)
    method = forms.ChoiceField(label="Method", choices=[("", "Any"), *[(m, m) for m in METHODS]], required=False)
    path_prefix = forms.CharField(label="Path starts with", max_length=512, required=False)
    key = forms.TypedChoiceField(label="Key", coerce=int, empty_value=None, required=False)
    client_ip = forms.GenericIPAddressField(label="Client IP", required=False)
    denial_cause = forms.ChoiceField(
        label="Denial cause", choices=[("", "Any"), *[(c, c) for c in DENIAL_CAUSES]], required=False
    )
    start = forms.DateTimeField(label="From (UTC)", required=False, widget=_DateTimeInput())
    end = forms.DateTimeField(label="To (UTC)", required=False, widget=_DateTimeInput())

    def __init__(self, data: Any, *, keys: Iterable[tuple[int, str]]) -> None:
        super().__init__(data)
        cast(forms.ChoiceField, self.fields["key"]).choices = [("", "Any"), *[(str(pk), label) for pk, label in keys]]

    def clean_path_prefix(self) -> str:
        value: str = self.cleaned_data["path_prefix"]
        if value and (not value.isprintable() or not value.startswith("/") or "?" in value):
            raise forms.ValidationError("Start with '/'; the log holds paths without query strings.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in ("start", "end"):
            moment = data.get(name)
            if moment is not None and not datetime_in_range(moment):
                self.add_error(name, f"Give a date and time {DATETIME_RANGE_TEXT}.")
        start, end = data.get("start"), data.get("end")
        if start and end and start >= end:
            self.add_error("start", "Must be before “To”.")
        return data

    def filters(self) -> RequestLogFilter:
        data = self.cleaned_data
        return RequestLogFilter(
            status_class=data.get("status_class"),
            status=data.get("status"),
            method=data.get("method") or None,
            path_prefix=data.get("path_prefix") or None,
            key_id=data.get("key"),
            client_ip=data.get("client_ip") or None,
            denial_cause=data.get("denial_cause") or None,
            start=data.get("start"),
            end=data.get("end"),
        )
