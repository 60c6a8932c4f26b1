"""Numbers the way CRS's JavaScript reads and writes them: `Number(text)` and `String(number)`.

CRS's single-key edit route checks a limit with `Number(x)` and stores `Number(x).toString()`,
so `' 5 '`, `'5.0'` and `'0x10'` are stored as `'5'`, `'5'` and `'16'`, and a large value as
`'1e+21'`. Python's `float()` and `str()` differ at those edges (`'inf'`, `'1_000'`, `5.0`,
`1e+21` written `1e+21` but `1e21` read too), so keyops parses and formats like V8 here.
"""

from __future__ import annotations

import math
import re

from keyops.core.schema.js_text import JS_WHITESPACE, js_trim

# StringNumericLiteral (ECMAScript 7.1.4.1): a signed decimal literal, Infinity, or an unsigned
# 0x / 0o / 0b integer. No numeric separators, no 'inf'/'nan' (Python's spellings), and
# ASCII digits only: Python's `\d` and `float()` read '٥' or '５' as 5, JavaScript as NaN.
_DECIMAL = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")
_RADIX = re.compile(r"0(?:[xX](?P<x>[0-9a-fA-F]+)|[oO](?P<o>[0-7]+)|[bB](?P<b>[01]+))")


def js_to_number(text: str) -> float | None:
    """`Number(text)` for a string; None where JavaScript gives NaN."""
    body = js_trim(text)
    if not body:
        return 0.0
    radix = _RADIX.fullmatch(body)
    if radix is not None:
        for base, digits in ((16, radix["x"]), (8, radix["o"]), (2, radix["b"])):
            if digits is not None:
                return float(int(digits, base))
    if _DECIMAL.fullmatch(body) is None:
        return None
    return float(body.replace("Infinity", "inf"))


def js_number_to_string(value: float) -> str:
    """`Number.prototype.toString()`: the shortest digits that read back the same (as Python's
    repr), laid out by ECMAScript's rule (no '.0', exponents only past 1e21 or below 1e-6)."""
    x = float(value)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    if x < 0:
        return "-" + js_number_to_string(-x)
    mantissa, _, exponent_text = repr(x).partition("e")
    exponent = int(exponent_text or 0)
    whole, _, fraction = mantissa.partition(".")
    if fraction == "0":
        fraction = ""
    digits = (whole + fraction).lstrip("0")
    # n: where the decimal point sits relative to the digits (ECMAScript's `n`).
    if whole.strip("0"):
        n = len(whole.lstrip("0")) + exponent
    else:
        n = exponent - (len(fraction) - len(fraction.lstrip("0")))
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    power = n - 1
    sign = "+" if power >= 0 else "-"
    head = digits if k == 1 else f"{digits[0]}.{digits[1:]}"
    return f"{head}e{sign}{abs(power)}"


# parseFloat's StrDecimalLiteral (no radix prefixes, unlike Number), matched as a prefix.
_FLOAT_PREFIX = re.compile(
    r"[+-]?(?:Infinity|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
)
_INT_PREFIX = re.compile(r"[+-]?[0-9]+")


def js_parse_float(text: str) -> float | None:
    """`parseFloat(text)`: the longest decimal literal after leading white space, junk after it
    ignored ('3 dollars' is 3, '1e999' and 'Infinity' are infinite); None where JavaScript
    gives NaN ('abc', '١٠', which Python's float() reads as 10)."""
    match = _FLOAT_PREFIX.match(text.lstrip(JS_WHITESPACE))
    if match is None:
        return None
    return float(match.group().replace("Infinity", "inf"))


def js_parse_int(text: str) -> int | None:
    """`parseInt(text, 10)`: the ASCII digits after leading white space and a sign, junk after
    them ignored ('1e3' is 1, '5.5' is 5); None where JavaScript gives NaN."""
    match = _INT_PREFIX.match(text.lstrip(JS_WHITESPACE))
    if match is None:
        return None
    digits = match.group()
    if len(digits) <= 4000:
        return int(digits)
    # Past Python's 4,300-digit guard for int(): read in parts (a hostile counter, not CRS's).
    sign, digits = (-1, digits[1:]) if digits[0] == "-" else (1, digits.lstrip("+"))
    value = 0
    for start in range(0, len(digits), 4000):
        part = digits[start : start + 4000]
        value = value * 10 ** len(part) + int(part)
    return sign * value
