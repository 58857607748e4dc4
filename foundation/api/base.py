"""Shared REST plumbing: the strict input serializer and fields, and the default-deny, JSON-only base view."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import QueryDict
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from foundation.api.parsers import StrictJSONParser
from foundation.api.permissions import DenyAll
from foundation.api.schema import PorticoAutoSchema
from foundation.validators import DATETIME_RANGE_TEXT, normalise_name, parse_bounded_datetime, validate_name

MAX_UNKNOWN_FIELDS_REPORTED = 20
EMPTY_PARAMETER = "Give a value, or leave the parameter out."


class StrictSerializer(serializers.Serializer):
    """Input serializer that refuses keys it does not declare, so mass assignment (`status`, `digest`…) is a 400."""

    rejects_unknown_fields = True  # the schema says additionalProperties: false

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = [str(key) for key in data if key not in writable]
            if unknown:
                errors = {name[:60]: ["Unknown field."] for name in unknown[:MAX_UNKNOWN_FIELDS_REPORTED]}
                raise serializers.ValidationError(errors)
        if isinstance(data, QueryDict):
            # In a query string DRF reads `?granularity=` as "not given" and applies the default; a parameter
            # given empty is a mistake to report, not to guess around.
            empty = [str(name) for name in self.fields if name in data and data.get(str(name)) == ""]
            if empty:
                raise serializers.ValidationError(
                    {name: ["Give a value, or leave the parameter out."] for name in empty}
                )
        return super().to_internal_value(data)


class _StringsOnly:
    """DRF coerces numbers to strings; a strict API calls `{"name": 42}` a type error."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid")  # type: ignore[attr-defined]
        return super().to_internal_value(data)  # type: ignore[misc]


class StrictCharField(_StringsOnly, serializers.CharField):
    pass


class NameSerializerField(StrictCharField):
    """A user-chosen name in the REST API: normalised and held to the same rule as in forms and the admin."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("validators", [validate_name])
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        return normalise_name(super().to_internal_value(data))


class StrictEmailField(_StringsOnly, serializers.EmailField):
    pass


class StrictSlugField(_StringsOnly, serializers.SlugField):
    pass


class StrictIntegerField(serializers.IntegerField):
    """An integer, not `"12"`, `12.0` or `true`."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class PorticoAPIView(GenericAPIView):
    """Base of every endpoint: deny by default, JSON only, partial updates only, no OPTIONS introspection."""

    permission_classes: Sequence[type[BasePermission]] = (DenyAll,)
    parser_classes = (StrictJSONParser,)
    metadata_class = None
    schema = PorticoAutoSchema()
    http_method_names = ["get", "head", "post", "patch", "delete"]

    def input(self, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
        """The validated request body; invalid input raises a 400 with field errors."""
        serializer = serializer_class(data=self.request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def output(self, serializer_class: type[serializers.Serializer], instance: Any, status: int = 200) -> Response:
        return Response(serializer_class(instance, context=self.get_serializer_context()).data, status=status)

    def page(self, queryset: QuerySet[Any], serializer_class: type[serializers.Serializer]) -> Response:
        """Filter, paginate and serialize a list (the queryset carries its own select/prefetch_related)."""
        rows = self.paginate_queryset(self.filter_queryset(queryset))
        data = serializer_class(rows, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data)

    def is_schema_generation(self) -> bool:
        """drf-spectacular instantiates views without a user to introspect their querysets."""
        return bool(getattr(self, "swagger_fake_view", False))


def once_shown(response: Response) -> Response:
    """A response carrying a secret: no browser, proxy or CDN may keep a copy."""
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


class BoundedDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date and time within the accepted range: the calendar's ends overflow when converted to UTC
    or moved by a day, and would otherwise be a 500."""

    default_error_messages = {
        "out_of_range": f"Give a date and time {DATETIME_RANGE_TEXT}.",
        "empty": "Give a value, or leave the parameter out.",
    }

    def get_value(self, dictionary: Any) -> Any:
        # DRF reads an empty value in a query or form (`?to=`) as "not given"; here it is a mistake to report.
        if self.field_name in dictionary and dictionary.get(self.field_name) == "":
            return ""
        return super().get_value(dictionary)

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data == "":
            self.fail("empty")
        return super().validate_empty_values(data)

    def to_internal_value(self, value: Any) -> datetime:
        if isinstance(value, str):
            try:
                parse_bounded_datetime(value)  # a well-formed moment out of range is named as such
            except DjangoValidationError:
                self.fail("out_of_range")
        return super().to_internal_value(value)
