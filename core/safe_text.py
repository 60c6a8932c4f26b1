"""Stored text made safe to show: nothing read from Redis reaches a terminal raw.

Names, tags, descriptions, account names and audit values are whatever CRS, a script or a hand
edit left in Redis. Printed raw, an escape sequence in one of them could recolour, move or clear
the operator's terminal, set its title or hide text; a newline could forge a line of output.
Every front end shows such text through `printable` (plain text) or `json_text` (JSON), which
turn the dangerous characters into visible escapes and leave every other character alone.
"""

from __future__ import annotations

import json
import re
from typing import Any

# C0 and C1 control characters and DEL (ESC and CSI start escape sequences); line and paragraph
# separators; bidirectional embeddings, overrides, isolates and marks (they reorder what is
# shown); invisible characters that make two different strings look equal; unpaired
# surrogates (JSON escapes CRS's JSON.stringify wrote, or bytes that were not UTF-8).
UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028\u2029\u202a-\u202e"
    "\u2060\u2066-\u2069\ufeff\ud800-\udfff]"
)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char == "\n":
        return "\\n"
    if char == "\t":
        return "\\t"
    if char == "\r":
        return "\\r"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with every character in UNSAFE shown as a backslash escape (`\\x1b`, `\\n`,
    `\\u202e`, `\\ud83d`); unchanged when there is none (the common case costs one search)."""
    if UNSAFE.search(text) is None:
        return text
    return UNSAFE.sub(_escape, text)


# What json.dumps(ensure_ascii=False) leaves raw: it escapes C0 itself (raw newlines in its
# output are the indentation's).
_JSON_UNSAFE = re.compile(UNSAFE.pattern.replace("\x00-\x1f", ""))


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def json_text(value: Any, *, indent: int | None = None) -> str:
    """JSON for a terminal or a pipe: the same value, with UNSAFE characters as `\\uXXXX`
    escapes (json escapes C0 itself; DEL, C1 and the rest would otherwise pass raw)."""
    text = json.dumps(value, ensure_ascii=False, indent=indent)
    if _JSON_UNSAFE.search(text) is None:
        return text
    return _JSON_UNSAFE.sub(_json_escape, text)
