"""The lean in-memory row the key list and the filter work on.

A full pydantic record per key costs several KB; at 100,000 keys that alone would blow the
memory budget. A row keeps only what the list shows and the query language filters on, with
repeated values (tag lists, binding strings) shared between rows.
"""

from __future__ import annotations

import time
from enum import StrEnum

from keyops.core.schema.damage import MAX_FIELD_CHARS, displayable, field_damage
from keyops.core.schema.encoding import decode_tags, iso_to_epoch
from keyops.core.schema.key_limits import LIMIT_FIELDS, NO_LIMITS, KeyLimits, LimitsCache
from keyops.core.schema.platforms import BindingField

# HMGET field order of a row: what the list shows, the bindings in BindingField order, then the
# limits and settings (read here, in the same HMGET, so a usage read needs only the counters and
# the settings query terms need no usage read at all).
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
    *LIMIT_FIELDS,
)
_BINDINGS_START = 8
_LIMITS_START = _BINDINGS_START + len(BindingField)


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
        "limits",
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
        limits: KeyLimits = NO_LIMITS,
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
        self.limits = limits

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
    """Builds rows from HMGET replies, sharing equal tag tuples and binding strings.

    The load builds 100,000 rows in a few seconds' budget, so `build` is written for speed:
    whatever many rows share (tags, bindings) is decoded and checked once per distinct value,
    and the damage checks run in full only for a row that fails a cheap look first.
    """

    def __init__(self) -> None:
        self._tags: dict[str, tuple[tuple[str, ...], str]] = {}
        self._strings: dict[str, str] = {}
        self._bindings: dict[tuple[str | None, ...], tuple[tuple[str, ...], str]] = {}
        self._limits = LimitsCache()

    def _shared(self, value: str) -> str:
        return self._strings.setdefault(value, value)

    def _decode_tags(self, raw_tags: str) -> tuple[tuple[str, ...], str]:
        # The stored JSON made text first (bytes that were not UTF-8 shown as U+FFFD, a
        # damaged key), then parsed: the tags are exactly what CRS reads, including an
        # unpaired surrogate from a JSON escape, which only the display turns visible.
        tags = tuple(self._shared(tag) for tag in decode_tags(displayable(raw_tags)))
        return tags, field_damage("tags", raw_tags)

    def _decode_bindings(self, stored: tuple[str | None, ...]) -> tuple[tuple[str, ...], str]:
        raw_bindings = tuple(value or "" for value in stored)
        bindings = tuple(self._shared(displayable(value)) for value in raw_bindings)
        damage = next(
            (problem for field, value in zip(BindingField, raw_bindings, strict=True)
             if value and (problem := field_damage(field.value, value))),
            "",
        )  # fmt: skip
        return bindings, damage

    def build(self, key_id: str, values: list[str | None]) -> KeyRow:
        raw_tags = values[2] or "[]"
        tags_read = self._tags.get(raw_tags)
        if tags_read is None:
            tags_read = self._tags[raw_tags] = self._decode_tags(raw_tags)
        # Keyed by the stored values as read (None for a missing field): no per-row mapping.
        stored_bindings = tuple(values[_BINDINGS_START:_LIMITS_START])
        bindings_read = self._bindings.get(stored_bindings)
        if bindings_read is None:
            bindings_read = self._bindings[stored_bindings] = self._decode_bindings(stored_bindings)
        name, description = values[0] or "", values[1] or ""
        active, deleted = values[3], values[4]
        raw_expires, raw_created, raw_last_used = values[5], values[6], values[7]
        expires = iso_to_epoch(raw_expires) if raw_expires else None
        created = iso_to_epoch(raw_created) if raw_created else None
        last_used = iso_to_epoch(raw_last_used) if raw_last_used else None
        damage = tags_read[1] or bindings_read[1]
        if not damage and (
            (active and active != "true" and active != "false")
            or (deleted and deleted != "true" and deleted != "false")
            or (raw_expires and expires is None)
            or (raw_created and created is None)
            or (raw_last_used and last_used is None)
            or not name.isascii()
            or not description.isascii()
            or len(name) > MAX_FIELD_CHARS
            or len(description) > MAX_FIELD_CHARS
        ):
            damage = self._damage(values, name, description, (expires, created, last_used))
        if damage:
            name, description = displayable(name), displayable(description)
        return KeyRow(
            key_id,
            name,
            self._shared(description),
            tags_read[0],
            active == "true",  # decode_bool: only the exact string is true, as in CRS
            deleted == "true",
            expires,
            created,
            last_used,
            bindings_read[0],
            damage,
            self._limits.get(values[_LIMITS_START:]),
        )

    @staticmethod
    def _damage(
        values: list[str | None], name: str, description: str, dates: tuple[float | None, ...]
    ) -> str:
        """The first problem of a row the cheap look in `build` found suspect ('' if none)."""
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
