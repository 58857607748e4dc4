"""CSV cells safe in a spreadsheet: formulas defused, control characters dropped, numbers left as they are."""

from __future__ import annotations

import csv
import io

import pytest

from foundation.spreadsheet import csv_stream, safe_cell


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1+1", "'=1+1"),
        ("\r=1+1", "'=1+1"),
        ("  =1+1", "'  =1+1"),
        ('\x00=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("/weather/items\x1b[31m\r\n", "/weather/items[31m"),
        ("a\u202eb", "ab"),  # a direction override hides text
        ("/plain/path", "/plain/path"),
        ("", ""),
        (None, ""),
        (429, 429),
        (-1.5, -1.5),
    ],
)
def test_a_cell_is_never_a_formula_and_holds_no_control_characters(value, cell) -> None:
    assert safe_cell(value) == cell


def test_the_stream_is_one_line_per_row_and_reads_back() -> None:
    lines = list(csv_stream(["path", "status"], [["=x\ny", 200], ['a,"b"', 404]]))
    assert len(lines) == 3
    assert list(csv.reader(io.StringIO("".join(lines)))) == [["path", "status"], ["'=xy", "200"], ['a,"b"', "404"]]
