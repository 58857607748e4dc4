"""Query-string filters every list endpoint shares: ids, bounded dates, and no silently empty values."""

from __future__ import annotations

from typing import Any

from django import forms
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from foundation.ids import MAX_OBJECT_ID
from foundation.validators import parse_bounded_datetime


class StrictFilterSet(filters.FilterSet):
    """A filter given with an empty value (`?until=`) is refused, not silently ignored."""

    def is_valid(self) -> bool:
        valid = super().is_valid()
        for name in self.filters:
            if name in self.data and not str(self.data.get(name, "")).strip():
                self.form.add_error(name, "Give a value, or leave the parameter out.")
                valid = False
        return valid


class BoundedIsoDateTimeField(filters.IsoDateTimeFilter.field_class):
    """ISO 8601, within the accepted range; the calendar's ends are refused rather than overflowing."""

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            parse_bounded_datetime(value)  # a well-formed moment out of range is named as such
        return super().to_python(value)


@extend_schema_field(OpenApiTypes.DATETIME)
class BoundedDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = BoundedIsoDateTimeField


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_OBJECT_ID})
class IdFilter(filters.NumberFilter):
    """An object id: a positive integer, not any number."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_OBJECT_ID)
        super().__init__(*args, **kwargs)
