"""Which stored values CRS did not write: a key holding one is listed as damaged, and batches
skip it with the reason instead of writing over something nobody understands.

CRS's readers are lenient (a bad boolean reads as false, bad JSON as empty), so a write based
on such a reading would silently replace what is there. Only what CRS itself never writes
counts as damage; the quirks of real CRS data (empty strings, absent fields) do not.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from keyops.core.schema.bindings import BadBinding, parse_binding
from keyops.core.schema.encoding import parse_iso
from keyops.core.schema.js_text import js_json_loads, node_utf8
from keyops.core.schema.platforms import BindingField

MAX_FIELD_CHARS = 65_536  # CRS's own fields are far shorter; a value past this is not CRS's
BOOL_FIELDS = ("isActive", "isDeleted")
DATE_FIELDS = ("expiresAt", "createdAt", "lastUsedAt", "updatedAt")
_BINDINGS = {field.value: field for field in BindingField}


def _has_bad_utf8(value: str) -> bool:
    # Clients decode with surrogateescape: bytes that are not UTF-8 become lone surrogates.
    if value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def tags_damage(raw: str) -> str:
    try:
        value = js_json_loads(raw)
    except ValueError:
        return f"tags is not JSON ({_preview(raw)})"
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return f"tags is not a JSON list of strings ({_preview(raw)})"
    return ""


def field_damage(name: str, value: str) -> str:
    """Why this stored value is not one CRS writes ('' when it is fine)."""
    if len(value) > MAX_FIELD_CHARS:
        return f"{name} is {len(value):,} characters long"
    if _has_bad_utf8(value):
        return f"{name} is not valid UTF-8"
    if not value:
        return ""
    if name == "tags":
        return tags_damage(value)
    if name in BOOL_FIELDS and value not in ("true", "false"):
        return f"{name} is {_preview(value)}, not true or false"
    if name in DATE_FIELDS and parse_iso(value) is None:
        return f"{name} is {_preview(value)}, not a date"
    if name in _BINDINGS:
        try:
            parse_binding(_BINDINGS[name], value)
        except BadBinding as error:
            return f"{name} holds {_preview(value)}: {error}"
    return ""


def record_damage(fields: Mapping[str, str], only: Collection[str] | None = None) -> str:
    """The first problem among a key's stored fields (those named in `only`, when given), or ''."""
    for name, value in fields.items():
        if only is not None and name not in only:
            continue
        problem = field_damage(name, value)
        if problem:
            return problem
    return ""


def displayable(value: str) -> str:
    """A stored string as text: bytes that were not UTF-8 (which the clients' surrogateescape
    decoding turned into lone surrogates) shown as U+FFFD. Surrogates that came from anywhere
    else (a JSON escape) become U+FFFD too, never an error."""
    if not _has_bad_utf8(value):
        return value
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return node_utf8(value)


def _preview(value: str, limit: int = 40) -> str:
    shown = displayable(value)
    return repr(shown if len(shown) <= limit else shown[: limit - 1] + "…")
