"""The counter and cost strings of CRS's usage keys, read as CRS's JavaScript reads them.

CRS compares `parseFloat(v || 0)` costs and `parseInt(v || 0)` counters with a key's limits,
so a verdict must read the same numbers: Python's float() and int() differ on exactly the
strings a buggy writer or a hand edit leaves ('1e3' requests, an 'Infinity' cost, '1_000',
digits of other scripts, junk after the digits). CRS's own writers (INCRBY, INCRBYFLOAT, JS
toString) produce plain numbers, which take the fast path.
"""

from __future__ import annotations

from keyops.core.schema.js_number import js_parse_float, js_parse_int

_DIGITS = frozenset("0123456789")
_STARTS = frozenset("0123456789+-.")


def crs_float(raw: str | None) -> float:
    """`parseFloat(raw || 0)` with NaN read as 0 (it compares false with every limit, as 0
    does); infinite where CRS's is, and -0 as 0."""
    if not raw:
        return 0.0
    if raw[0] in _STARTS and raw[-1] in _DIGITS and raw.isascii() and "_" not in raw:
        try:
            # An ASCII number from its first character to a last digit (never 'inf', 'nan'
            # or Python's white space): float() and parseFloat agree on it.
            return float(raw) + 0.0
        except ValueError:
            pass
    value = js_parse_float(raw)
    return 0.0 if value is None else value + 0.0


def crs_int(raw: str | None) -> int:
    """`parseInt(raw || 0)` with NaN read as 0: '1e3' is 1, '5.5' is 5, '7 requests' is 7."""
    if not raw:
        return 0
    if raw[0] in _STARTS and raw.isascii() and "_" not in raw:
        try:
            return int(raw)  # a sign and ASCII digits (trailing white space too): as parseInt
        except ValueError:
            pass
    value = js_parse_int(raw)
    return 0 if value is None else value
