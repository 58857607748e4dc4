"""Per-API redaction rules (docs/redaction.md); the masking itself is in redaction/detectors.py and the gateway."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from portal.models import Api

MAX_FIELDS = 50
MAX_FIELD_LENGTH = 128
# A field name as it appears in a query string, a path or a JSON object: letters, digits and _ . -
NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# A JSON Pointer (RFC 6901): "/" then reference tokens; "~" only as ~0 or ~1, no control characters.
POINTER_RE = re.compile(r"(?:/(?:[^~/\x00-\x1f\x7f]|~[01])*)+")


def validate_fields(value: Any) -> None:
    """A list of distinct field names or JSON Pointers, each checked, so an admin sees which entry is wrong."""
    if not isinstance(value, list):
        raise ValidationError("Give a list of field names or JSON Pointers.")
    if len(value) > MAX_FIELDS:
        raise ValidationError(f"At most {MAX_FIELDS} fields.")
    seen: set[str] = set()
    for entry in value:
        if not isinstance(entry, str) or not entry:
            raise ValidationError("Each field is a non-empty text.")
        if len(entry) > MAX_FIELD_LENGTH:
            raise ValidationError(f"{entry[:20]}...: at most {MAX_FIELD_LENGTH} characters.")
        if entry.startswith("/"):
            if not POINTER_RE.fullmatch(entry) or entry.endswith("/"):
                raise ValidationError(f'{entry}: not a JSON Pointer ("/a/b"; write ~ as ~0 and / inside a name as ~1).')
        elif not NAME_RE.fullmatch(entry):
            raise ValidationError(f"{entry}: a field name has 1-64 letters, digits, _ . or -, or is a JSON Pointer.")
        key = entry.lower()
        if key in seen:
            raise ValidationError(f"{entry}: listed twice.")
        seen.add(key)


def default_fields() -> list[str]:
    return []


class RedactionPolicy(models.Model):
    """What one API's requests and responses must not leave behind: named fields and detector hits."""

    api = models.OneToOneField(Api, on_delete=models.CASCADE, related_name="redaction")
    fields = models.JSONField(
        default=default_fields,
        blank=True,
        validators=[validate_fields],
        help_text='Field names (card_number, ssn, password) or JSON Pointers (/payment/card); e.g. ["password"].',
    )
    detect_cards = models.BooleanField(default=True, help_text="Payment card numbers (13-19 digits, Luhn-checked).")
    detect_national_ids = models.BooleanField(
        default=True, help_text="US Social Security numbers (123-45-6789) and UK National Insurance numbers."
    )
    detect_emails = models.BooleanField(default=True, help_text="Email addresses.")
    redact_responses = models.BooleanField(
        default=False,
        help_text="Also mask JSON responses passed to consumers (bodies up to 1 MiB; see docs/redaction.md).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "redaction policy"
        verbose_name_plural = "redaction policies"

    def __str__(self) -> str:
        return f"Redaction for {self.api}"

    def names(self) -> list[str]:
        """Every entry as the name it matches: a pointer's last reference token, unescaped, lower case."""
        out = []
        for entry in self.fields:
            token = entry.rsplit("/", 1)[-1].replace("~1", "/").replace("~0", "~") if entry.startswith("/") else entry
            if token and token.lower() not in out:
                out.append(token.lower())
        return out
