"""Model and form fields every app uses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.core.validators import URLValidator
from django.db import models

from foundation.validators import normalise_name, validate_single_line


class _NameRule:
    """What both name fields share: the single-line rule by default, and NFC-trimmed values."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("validators", [validate_single_line])
        super().__init__(*args, **kwargs)

    def to_python(self, value: Any) -> Any:
        value = super().to_python(value)  # type: ignore[misc]
        return normalise_name(value) if isinstance(value, str) else value


class NameField(_NameRule, models.CharField):
    """A user-chosen name: normalised (NFC, trimmed) whenever the model is cleaned, and held to validate_name.

    Stored as a plain CharField (its migrations say CharField), so adopting it changes no table.
    """

    def formfield(self, **kwargs: Any) -> Any:
        return super().formfield(**{"form_class": NameFormField, **kwargs})

    def deconstruct(self) -> tuple[str, str, Sequence[Any], dict[str, Any]]:
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.CharField", args, kwargs


class NameFormField(_NameRule, forms.CharField):
    """The form side of NameField: the same normalisation and rule, so pages report what the model would."""


class HttpURLField(models.URLField):
    """An address the platform or a gateway sends requests to: http(s) only (URLField alone also takes ftp and ftps).

    Stored as a plain URLField (its migrations say URLField), so adopting it changes no table.
    """

    default_validators = [URLValidator(schemes=["http", "https"])]

    def deconstruct(self) -> tuple[str, str, Sequence[Any], dict[str, Any]]:
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.URLField", args, kwargs
