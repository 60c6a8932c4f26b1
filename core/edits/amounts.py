"""A limit or a rate typed by the operator, checked as CRS's single-key edit route checks it and
encoded as that route stores it (`Number(x)`, then JavaScript's `toString`).

CRS's batch route checks nothing and stores whatever it is sent; keyops takes the stricter
single-key rules for every batch, and refuses what CRS would let through only to misread it
later: `Infinity` (CRS stores it, its readers then never limit) and an empty value (CRS
stores `''` for a rate, which its readers take as 0, free usage).
"""

from __future__ import annotations

import math

from keyops.core.safe_text import printable
from keyops.core.schema.js_number import js_number_to_string, js_to_number
from keyops.core.schema.js_text import js_trim


class AmountError(ValueError):
    """Why a typed amount is refused (one line, naming the option)."""


def parse_amount(label: str, text: str, *, integer: bool, zero: str = "no limit") -> str:
    """The stored string for `text`, or AmountError naming `label` (e.g. '--concurrency');
    `zero` says what 0 means there."""
    shown = printable(text)
    if not js_trim(text):
        raise AmountError(f"{label} needs a value (0 = {zero})")
    value = js_to_number(text)
    if value is None:
        raise AmountError(f"{label} '{shown}' is not a number")
    if not math.isfinite(value):
        raise AmountError(f"{label} '{shown}' is not a finite number")
    if integer and value != int(value):
        raise AmountError(f"{label} '{shown}' is not a whole number")
    if value < 0:
        raise AmountError(f"{label} '{shown}' is negative; 0 means {zero}")
    return js_number_to_string(value)
