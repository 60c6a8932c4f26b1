"""The lean in-memory row the key list and the filter work on.

A full pydantic record per key costs several KB; at 100,000 keys that alone would blow the
memory budget. A row keeps only what the list shows and the query language filters on, with
repeated values (tag lists, binding strings) shared between rows.
"""

from __future__ import annotations

import time
from enum import StrEnum

from core.schema.encoding import decode_bool, decode_tags, iso_to_epoch
from core.schema.platforms import BindingField

# HMGET field order of a row; bindings last, in BindingField order.
ROW_FIELDS: tuple[str, ...] = (
    "name",
    "description",
    "tags",
    "isActive",
    "isDeleted",
    "expiresAt",
    "createdAt",
    "lastUsedAt",
    *tuple(BindingField),
)
_BINDINGS_START = 8


class KeyStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"
    EXPIRED = "expired"
    DELETED = "deleted"


class KeyRow:
    __slots__ = (
        "bindings",
        "created_at",
        "description",
        "expires_at",
        "id",
        "is_active",
        "is_deleted",
        "last_used_at",
        "name",
        "name_folded",
        "tags",
    )

    def __init__(
        self,
        key_id: str,
        name: str,
        description: str,
        tags: tuple[str, ...],
        is_active: bool,
        is_deleted: bool,
        expires_at: float | None,
        created_at: float | None,
        last_used_at: float | None,
        bindings: tuple[str, ...],
    ) -> None:
        self.id = key_id
        self.name = name
        # Filters match names case-insensitively; folding once here, not per keystroke per
        # row, is most of what keeps a 100k-key filter under a frame. Shared when equal.
        folded = name.casefold()
        self.name_folded = name if folded == name else folded
        self.description = description
        self.tags = tags
        self.is_active = is_active
        self.is_deleted = is_deleted
        self.expires_at = expires_at
        self.created_at = created_at
        self.last_used_at = last_used_at
        self.bindings = bindings

    def binding(self, field: BindingField) -> str:
        return self.bindings[FIELD_POSITIONS[field]]

    def is_expired(self, now: float | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or time.time())

    def status(self, now: float | None = None) -> KeyStatus:
        """One status for display: deleted, then expired, then disabled, then active."""
        if self.is_deleted:
            return KeyStatus.DELETED
        if self.is_expired(now):
            return KeyStatus.EXPIRED
        return KeyStatus.ACTIVE if self.is_active else KeyStatus.DISABLED


# Where each binding field sits in a row's `bindings` tuple.
FIELD_POSITIONS = {field: index for index, field in enumerate(BindingField)}


class RowBuilder:
    """Builds rows from HMGET replies, sharing equal tag tuples and binding strings."""

    def __init__(self) -> None:
        self._tags: dict[str, tuple[str, ...]] = {}
        self._strings: dict[str, str] = {}
        self._binding_tuples: dict[tuple[str, ...], tuple[str, ...]] = {}

    def _shared(self, value: str) -> str:
        return self._strings.setdefault(value, value)

    def build(self, key_id: str, values: list[str | None]) -> KeyRow:
        raw_tags = values[2] or "[]"
        tags = self._tags.get(raw_tags)
        if tags is None:
            tags = tuple(self._shared(tag) for tag in decode_tags(raw_tags))
            self._tags[raw_tags] = tags
        raw_bindings = tuple(value or "" for value in values[_BINDINGS_START:])
        bindings = self._binding_tuples.get(raw_bindings)
        if bindings is None:
            bindings = tuple(self._shared(value) for value in raw_bindings)
            self._binding_tuples[raw_bindings] = bindings
        return KeyRow(
            key_id,
            values[0] or "",
            self._shared(values[1] or ""),
            tags,
            decode_bool(values[3]),
            decode_bool(values[4]),
            iso_to_epoch(values[5]),
            iso_to_epoch(values[6]),
            iso_to_epoch(values[7]),
            bindings,
        )
