"""The lean in-memory row the key list and the filter work on.

A full pydantic record per key costs several KB; at 100,000 keys that alone would blow the
memory budget. A row keeps only what the list shows and the query language filters on, with
repeated values (tag lists, binding strings) shared between rows.
"""

from __future__ import annotations

import time
from enum import StrEnum

from keyops.core.schema.damage import MAX_FIELD_CHARS, displayable, field_damage
from keyops.core.schema.encoding import decode_bool, decode_tags, iso_to_epoch
from keyops.core.schema.platforms import BindingField

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
    DAMAGED = "damaged"  # holds a value CRS never writes; batches leave the damaged fields alone


class KeyRow:
    __slots__ = (
        "bindings",
        "created_at",
        "damage",
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
        damage: str = "",
    ) -> None:
        self.id = key_id
        self.damage = damage
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

    def same_as(self, other: KeyRow) -> bool:
        """Whether two reads of a key hold the same values (a live refresh replaces a row only
        when something changed, so the list repaints nothing otherwise)."""
        return all(getattr(self, name) == getattr(other, name) for name in KeyRow.__slots__)

    def take(self, other: KeyRow) -> None:
        """Takes a newer read of the same key, in place: every list holding this row (the
        loaded table, the sorted list, a filter's result) sees it without a pass over 100,000
        rows to swap one object for another."""
        for name in KeyRow.__slots__:
            setattr(self, name, getattr(other, name))

    def binding(self, field: BindingField) -> str:
        return self.bindings[FIELD_POSITIONS[field]]

    def is_expired(self, now: float | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or time.time())

    def status(self, now: float | None = None) -> KeyStatus:
        """One status for display: damaged, deleted, then expired, then disabled, then active."""
        if self.damage:
            return KeyStatus.DAMAGED
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
        self._tags_damage: dict[str, str] = {}
        self._bindings_damage: dict[tuple[str, ...], str] = {}

    def _shared(self, value: str) -> str:
        return self._strings.setdefault(value, value)

    def build(self, key_id: str, values: list[str | None]) -> KeyRow:
        raw_tags = values[2] or "[]"
        tags = self._tags.get(raw_tags)
        if tags is None:
            # The stored JSON made text first (bytes that were not UTF-8 shown as U+FFFD, a
            # damaged key), then parsed: the tags are exactly what CRS reads, including an
            # unpaired surrogate from a JSON escape, which only the display turns visible.
            tags = tuple(self._shared(tag) for tag in decode_tags(displayable(raw_tags)))
            self._tags[raw_tags] = tags
            self._tags_damage[raw_tags] = field_damage("tags", raw_tags)
        raw_bindings = tuple(value or "" for value in values[_BINDINGS_START:])
        bindings = self._binding_tuples.get(raw_bindings)
        if bindings is None:
            bindings = tuple(self._shared(displayable(value)) for value in raw_bindings)
            self._binding_tuples[raw_bindings] = bindings
            self._bindings_damage[raw_bindings] = next(
                (problem for field, value in zip(BindingField, raw_bindings, strict=True)
                 if value and (problem := field_damage(field.value, value))),
                "",
            )  # fmt: skip
        name, description = values[0] or "", values[1] or ""
        dates = (iso_to_epoch(values[5]), iso_to_epoch(values[6]), iso_to_epoch(values[7]))
        damage = self._tags_damage[raw_tags] or self._bindings_damage[raw_bindings]
        if not damage:
            damage = self._damage(values, name, description, dates)
        if damage:
            name, description = displayable(name), displayable(description)
        return KeyRow(
            key_id,
            name,
            self._shared(description),
            tags,
            decode_bool(values[3]),
            decode_bool(values[4]),
            *dates,
            bindings,
            damage,
        )

    @staticmethod
    def _damage(
        values: list[str | None], name: str, description: str, dates: tuple[float | None, ...]
    ) -> str:
        """The cheap checks first: at 100,000 rows each costs a few milliseconds."""
        for flag, field_name in ((values[3], "isActive"), (values[4], "isDeleted")):
            if flag and flag != "true" and flag != "false":
                return field_damage(field_name, flag)
        for raw, moment, field_name in zip(
            values[5:8], dates, ("expiresAt", "createdAt", "lastUsedAt"), strict=True
        ):
            if raw and moment is None:
                return field_damage(field_name, raw)
        for text, field_name in ((name, "name"), (description, "description")):
            if not text.isascii() or len(text) > MAX_FIELD_CHARS:
                problem = field_damage(field_name, text)
                if problem:
                    return problem
        return ""
