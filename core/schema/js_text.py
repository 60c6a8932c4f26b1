"""Text the way CRS's JavaScript sees it: `String.prototype.trim`, `JSON.stringify`, and the
UTF-8 Node's Buffer makes of a string.

Python strings and JavaScript strings differ at the edges, and CRS's data lives at those edges:
- JavaScript's `trim()` removes its own set of white space: U+FEFF (a byte order mark) is in
  it, while U+001C..U+001F and U+0085, which Python's `str.strip()` removes, are not.
- A JavaScript string is UTF-16 and may hold an unpaired surrogate (a tag cut inside an
  emoji). `JSON.stringify` writes it as a `\\udXXX` escape, so the stored JSON is valid and
  ASCII there; once parsed, Python holds a lone surrogate that cannot be encoded as UTF-8.
- When Node sends such a string to Redis (a key name like `apikey:tag:{tag}`), its Buffer
  turns each unpaired surrogate into U+FFFD.
"""

from __future__ import annotations

import json
import re
from typing import Any

# ECMAScript WhiteSpace and LineTerminator: what `trim()` removes from both ends.
JS_WHITESPACE = (
    "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)

_SURROGATE = re.compile("[\ud800-\udfff]")


def js_trim(text: str) -> str:
    """`text.trim()` as JavaScript computes it."""
    return text.strip(JS_WHITESPACE)


def has_lone_surrogate(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def _paired(text: str) -> str:
    # A high and a low surrogate side by side are one character in JavaScript.
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def js_json_stringify(value: Any) -> str:
    """`JSON.stringify(value)`: compact, non-ASCII kept literal, unpaired surrogates escaped
    (lower-case hex, as V8 writes them), so the result always encodes as UTF-8."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if not has_lone_surrogate(text):
        return text
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", _paired(text))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def js_json_loads(raw: str) -> Any:
    """`JSON.parse(raw)`, raising ValueError wherever JavaScript throws. Python's `json` also
    reads `NaN`, `Infinity` and `-Infinity`, which JSON.parse refuses (so CRS reads such a
    field as broken), and fails with RecursionError on a deep nesting V8 parses; a field that
    deep is no value CRS writes, so it is refused here too rather than crash a batch."""
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError as error:
        raise ValueError("JSON nested too deep") from error


def node_utf8(text: str) -> str:
    """The text Node writes to Redis for a JavaScript string: each unpaired surrogate becomes
    U+FFFD (what `Buffer.from(text, 'utf8')` does), so the result encodes as UTF-8."""
    if not has_lone_surrogate(text):
        return text
    return _SURROGATE.sub("\ufffd", _paired(text))
