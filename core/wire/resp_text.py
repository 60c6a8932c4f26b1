"""RESP framed as text, for reads sent as one pre-encoded payload.

Encoding every argument through redis-py's generic packer cost more than Redis's own work for
the large reads (the key list, usage, `keys top`). Commands are framed here as text and encoded
once per chunk; a command whose text differs between keys only by the key id is framed once per
id length (`IdTemplate`) and then made by `join`, one C call per key.
"""

from __future__ import annotations

from collections.abc import Callable

Arg = str | int

# Key names keyops read hold the bytes that are not UTF-8 as lone surrogates (its clients
# decode with surrogateescape): encoded back the same way, they name the same key.
WIRE_ERRORS = "surrogateescape"

# Stands in for a key id while a template is framed; an id holding it is framed in full.
_STAND_IN = "\x01"


def resp_bulk(text: str) -> str:
    """One bulk string; byte lengths equal character lengths for ASCII, so only non-ASCII text
    is encoded to be measured."""
    size = len(text) if text.isascii() else len(text.encode("utf-8", WIRE_ERRORS))
    return f"${size}\r\n{text}\r\n"


def resp_text(args: list[Arg]) -> str:
    """One command."""
    return f"*{len(args)}\r\n" + "".join(
        resp_bulk(arg if isinstance(arg, str) else str(arg)) for arg in args
    )


class IdTemplate:
    """RESP text that differs between keys only by the key id, at fixed places: framed once
    per id length around a stand-in id of that length (so every length header is right) and
    split there, so a key's text is `key_id.join(parts)`."""

    def __init__(self, text: Callable[[str], str]) -> None:
        self.text = text  # the text for one key id, framed in full
        self._parts: dict[int, list[str]] = {}

    def _parts_for(self, length: int) -> list[str]:
        parts = self._parts.get(length)
        if parts is None:
            stand_in = _STAND_IN * length
            parts = self._parts[length] = self.text(stand_in).split(stand_in)
        return parts

    def __call__(self, key_id: str) -> str:
        if key_id.isascii() and _STAND_IN not in key_id:
            return key_id.join(self._parts_for(len(key_id)))
        return self.text(key_id)  # a byte length differs from the character count

    def many(self, key_ids: list[str]) -> str:
        """The text of every key in turn. ASCII ids of one length (CRS's UUIDs) with the id
        once in the text are one `join` for the whole list."""
        if key_ids:
            joined = "".join(key_ids)
            if joined.isascii() and _STAND_IN not in joined and len(set(map(len, key_ids))) == 1:
                parts = self._parts_for(len(key_ids[0]))
                if len(parts) == 2:
                    head, tail = parts
                    return head + (tail + head).join(key_ids) + tail
        return "".join(map(self, key_ids))
