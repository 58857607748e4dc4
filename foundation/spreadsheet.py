"""CSV that is safe to open in a spreadsheet: no formula injection, no control characters, written as it streams.

A cell starting with = + - @ (or a tab or carriage return, which some spreadsheets skip before reading a formula)
is run as a formula by Excel, LibreOffice and Google Sheets; OWASP's defence is a leading single quote, which
makes it text. Control characters are dropped so a value cannot break the row apart or hide text.
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """A file-like object that hands back what csv.writer writes, so rows stream without a buffer."""

    def write(self, value: str) -> str:
        return value


def safe_cell(value: Any) -> Any:
    """A value as a cell: numbers as they are, text without control characters and never read as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    text = str(value)
    starts_as_formula = text.lstrip(" ").startswith(FORMULA_STARTS)
    if not text.isprintable():
        text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf"))
    if starts_as_formula or text.lstrip(" ").startswith(FORMULA_STARTS):
        text = "'" + text
    return text


def csv_stream(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """CSV lines (header first) of safe cells, one string per row, for a StreamingHttpResponse."""
    writer = csv.writer(_Echo())
    yield writer.writerow([safe_cell(name) for name in header])
    for row in rows:
        yield writer.writerow([safe_cell(value) for value in row])
