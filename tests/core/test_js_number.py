"""Numbers read and written as CRS's JavaScript does: what `limits set` and `rates set` store
must be the string CRS's own route stores for the same input."""

from __future__ import annotations

import math

import pytest

from keyops.core.schema.js_number import js_number_to_string, js_to_number


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (5.0, "5"), (1.5, "1.5"), (0.1 + 0.2, "0.30000000000000004"), (1e21, "1e+21"),
        (1e20, "100000000000000000000"), (1e-7, "1e-7"), (0.000001, "0.000001"),
        (12345678901234567890.0, "12345678901234567000"), (-2.5, "-2.5"), (-0.0, "0"),
        (1.2345678901234569e23, "1.2345678901234569e+23"),
    ],
)  # fmt: skip
def test_numbers_are_written_as_number_to_string_writes_them(value: float, text: str) -> None:
    assert js_number_to_string(value) == text


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (" 5 ", 5.0), ("5.0", 5.0), ("0x10", 16.0), ("0b11", 3.0), ("0o17", 15.0), ("1e3", 1000.0),
        (".5", 0.5), ("5.", 5.0), ("", 0.0), ("\ufeff7\u00a0", 7.0), ("-Infinity", -math.inf),
        ("abc", None), ("1_000", None), ("inf", None), ("nan", None), ("+0x1", None), ("1e", None),
    ],
)  # fmt: skip
def test_text_is_read_as_number_reads_it(text: str, value: float | None) -> None:
    assert js_to_number(text) == value
