"""What a key may use, as CRS's request path reads its stored fields: the services its
`permissions` allow, and the model and client restrictions in force.

CRS's readers are lenient and keyops reads the same way: `permissions` may be a JSON list,
`all`, a comma list or a bare word, an empty list meaning every service; a restriction flag is
on only for the exact string `'true'`; a restriction list is `JSON.parse`d, broken JSON reading
as no list, and is in force only when its flag is on and it is not empty.
"""

from __future__ import annotations

from typing import Any

from keyops.core.schema.js_text import js_json_loads

# CRS's validatePermissions accepts these four; the order is its edit form's.
SERVICES = ("claude", "gemini", "openai", "droid")
ALL = frozenset(SERVICES)


def stored_permissions(raw: str | None) -> list[Any]:
    """What CRS's readers make of the stored value (normalizePermissions on the string)."""
    if not raw:
        return []
    if raw.startswith("["):
        try:
            value = js_json_loads(raw)
        except ValueError:
            value = None
        if isinstance(value, list):
            return value
    if raw == "all":
        return []
    if "," in raw:
        return [part.strip() for part in raw.split(",") if part.strip()]
    return [raw]


def allowed_services(raw: str | None) -> frozenset[str]:
    """The services a key with this stored value may use (hasPermission: empty = all)."""
    listed = stored_permissions(raw)
    if not listed:
        return ALL
    return frozenset(item for item in listed if isinstance(item, str)) & ALL


def restriction_in_force(flag: str | None, raw_list: str | None) -> tuple[str, ...]:
    """The names a restriction applies, () when it is off or empty. A stored value that
    parses to something other than a list of strings counts as no list here: keyops's query
    terms match lists only (CRS would treat a bare JSON string as text to search in)."""
    if flag != "true" or not raw_list:
        return ()
    try:
        value = js_json_loads(raw_list)
    except ValueError:
        return ()
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str))
