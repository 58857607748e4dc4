"""Field validators shared by models, forms and serializers of every app."""

import re
import unicodedata
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime

HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_PATH_PREFIX = re.compile(r"^/[A-Za-z0-9._~\-/]*[A-Za-z0-9._~\-]$")


def validate_no_control_chars(value: str) -> None:
    """Reject NUL, ESC and other C0/C1 controls (tab and newlines excepted): they break logs and terminals.

    Other Unicode (RTL text, combining marks, emoji) is stored as given and escaped on output.
    """
    for char in value:
        if char in "\t\n\r":
            continue
        if unicodedata.category(char) == "Cc":
            raise ValidationError("Control characters are not allowed.", code="control_characters")


# Format characters a name may hold: the zero-width (non-)joiners that Indic and Persian scripts and emoji
# sequences need. Every other one (bidi overrides and isolates, zero-width spaces, the BOM) can make a name
# look like another in pages, emails and the audit trail.
_JOINERS = {"\u200c", "\u200d"}
# Categories a name never holds: controls, format characters, surrogates, private use, unassigned and
# noncharacters (U+FFFF, U+FDD0…).
_REFUSED_IN_NAMES = {"Cc": "Control characters", "Cf": "Invisible or direction-changing characters",
                     "Cs": "Unpaired surrogates", "Co": "Private-use characters",
                     "Cn": "Unassigned characters and noncharacters"}  # fmt: skip
_INVISIBLE = {"Cc", "Cf", "Mn", "Me", "Zs", "Zl", "Zp"}
# U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR: line breaks to str.splitlines(), JavaScript and terminals.
_LINE_BREAKS = {"Zl", "Zp"}


def normalise_name(value: str) -> str:
    """The form a user-chosen name is stored in: NFC (one encoding per character), without surrounding spaces."""
    return unicodedata.normalize("NFC", value).strip()


def validate_name(value: str) -> None:
    """The one rule for every user-chosen name (organisations, applications, keys, tokens, APIs, plans), in
    forms, the REST API and the admin alike: something visible, on one line, nothing that hides or reorders text."""
    if value and not any(unicodedata.category(char) not in _INVISIBLE for char in value):
        raise ValidationError("This field may not be blank (it holds no visible character).", code="blank")
    for char in value:
        if char in "\n\r" or unicodedata.category(char) in _LINE_BREAKS:
            raise ValidationError("Line breaks are not allowed.", code="line_break")
        if char == "\t":
            raise ValidationError("Tabs are not allowed in names.", code="tab")
        category = unicodedata.category(char)
        if category in _REFUSED_IN_NAMES and char not in _JOINERS:
            raise ValidationError(
                f"{_REFUSED_IN_NAMES[category]} (here U+{ord(char):04X}) are not allowed in names.",
                code="invisible_characters",
            )


# Older migrations name the validator by this path; it is the same rule.
validate_single_line = validate_name


def validate_path_prefix(value: str) -> None:
    """A public path prefix like /weather or /v2/orders: no query, no dot segments, no trailing slash."""
    if not _PATH_PREFIX.match(value) or "//" in value or "/../" in f"{value}/" or "/./" in f"{value}/":
        raise ValidationError(
            "Use a path like /weather: starts with '/', no trailing slash, letters, digits, '-', '_', '.', '~'.",
            code="invalid_path_prefix",
        )


def validate_http_methods(value: object) -> None:
    """A non-empty list of distinct standard HTTP methods."""
    if not isinstance(value, list) or not value:
        raise ValidationError("Give a non-empty list of HTTP methods.", code="invalid_methods")
    unknown = [m for m in value if m not in HTTP_METHODS]
    if unknown or len(set(value)) != len(value):
        raise ValidationError(f"Allowed methods are {', '.join(HTTP_METHODS)}, each once.", code="invalid_methods")


_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


def validate_origins(value: object) -> None:
    """Browser origins (scheme://host[:port], no path or trailing slash), as CORS compares them: exactly."""
    if not isinstance(value, list) or not all(isinstance(origin, str) for origin in value):
        raise ValidationError("Give a list of origins such as https://app.example.com.", code="invalid_origins")
    wrong = [origin for origin in value if not _ORIGIN.match(origin)]
    if wrong:
        raise ValidationError(
            f"Not an origin: {', '.join(repr(o[:80]) for o in wrong[:5])}. Use scheme://host[:port], no path.",
            code="invalid_origins",
        )


# Every date and time a client may send lies in this range: far enough either way for real use, and far from
# the calendar's ends, where converting time zones or adding a day overflows.
EARLIEST_DATETIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_DATETIME = datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC)
DATETIME_RANGE_TEXT = "between 1970-01-01T00:00:00Z and 2999-12-31T23:59:59Z"


def datetime_in_range(value: datetime) -> bool:
    """Whether a moment lies in the accepted range (naive values are read as UTC). Safe at the calendar's ends:
    moving year 1 or 9999 to UTC overflows, which here means "out of range"."""
    try:
        offset = value.utcoffset() or timedelta(0)
        utc = value.replace(tzinfo=None) - offset
    except OverflowError:
        return False
    return EARLIEST_DATETIME.replace(tzinfo=None) <= utc <= LATEST_DATETIME.replace(tzinfo=None)


def validate_datetime_range(value: datetime | None) -> None:
    """Refuse moments outside the accepted range."""
    if value is not None and not datetime_in_range(value):
        raise ValidationError(f"Give a date and time {DATETIME_RANGE_TEXT}.", code="out_of_range")


def parse_bounded_datetime(text: str) -> datetime | None:
    """An ISO 8601 date and time, or None when it is not one; ValidationError when it is one out of range."""
    try:
        moment = parse_datetime(text.strip())
    except ValueError:
        return None
    validate_datetime_range(moment)
    return moment
