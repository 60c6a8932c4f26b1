"""Scalar encodings exactly as CRS (Node.js) writes and reads them.

CRS stores everything as strings: booleans as 'true'/'false', arrays and objects through
JSON.stringify (compact, UTF-8 kept literal), timestamps through Date.toISOString().
Reads are lenient the way CRS's `_parseApiKeyData` is, so a record CRS accepts, we accept.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from keyops.core.schema.js_text import js_json_loads, js_json_stringify
from keyops.core.timestamps import iso_utc


def encode_bool(value: bool) -> str:
    # Python's str(True) is 'True', which CRS would read as false.
    return "true" if value else "false"


def decode_bool(raw: str | None) -> bool:
    """True only for the exact string 'true', as CRS's readers do."""
    return raw == "true"


def encode_json(value: Any) -> str:
    """JSON.stringify: no spaces, non-ASCII kept as UTF-8, unpaired surrogates escaped."""
    return js_json_stringify(value)


def decode_json_list(raw: str | None) -> list[Any]:
    """A JSON array, or [] when missing or broken (CRS turns bad JSON into an empty value)."""
    if not raw:
        return []
    try:
        value = js_json_loads(raw)
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def decode_json_object(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = js_json_loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def decode_tags(raw: str | None) -> list[str]:
    """The `tags` field: a JSON array of strings. Non-string items are dropped, not crashed on."""
    return [item for item in decode_json_list(raw) if isinstance(item, str)]


def decode_number(raw: str | None) -> float:
    """parseFloat with a default of 0, like CRS. Trailing junk after a number is ignored there too."""
    if not raw:
        return 0.0
    text = raw.strip()
    end = 0
    for index, char in enumerate(text):
        # ASCII digits only: parseFloat reads no other digits ('٥' is NaN), Python would.
        if char in "0123456789+-.eE":
            end = index + 1
        else:
            break
    while end > 0:
        try:
            return float(text[:end])
        except ValueError:
            end -= 1
    return 0.0


def encode_iso(moment: datetime) -> str:
    """Date.toISOString(): UTC, milliseconds, 'Z'."""
    return iso_utc(moment)


def now_iso() -> str:
    return encode_iso(datetime.now(UTC))


def parse_iso(raw: str | None) -> datetime | None:
    """An ISO timestamp as CRS writes it, or None when empty or unreadable."""
    if not raw:
        return None
    text = raw.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def iso_to_epoch(raw: str | None) -> float | None:
    """Seconds since the epoch for an ISO field, None when empty or unreadable."""
    if not raw:
        return None
    if raw[-1] == "Z":
        # toISOString()'s form read as it is (fromisoformat takes the Z since Python 3.11):
        # a third of the cost of the general path, which matters 300,000 times a load.
        try:
            return datetime.fromisoformat(raw).timestamp()
        except ValueError:
            pass  # the general path below decides
    moment = parse_iso(raw)
    return moment.timestamp() if moment is not None else None
