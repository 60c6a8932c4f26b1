"""The write side of the codec: what one key's fields should hold -> the exact writes CRS expects.

Everything here is pure. `field_writes` turns the stored strings a key should hold into field
writes (before and after of each changed field, plus `updatedAt`); a `KeyWritePlan` derives
every index-set update CRS's `updateApiKey` would make from those transitions
(docs/crs-layout.md, "What updateApiKey writes"). `change_fields` encodes an intended change
(`KeyChange`: tags, status, name, expiry, bindings) as those stored strings, and
`plan_key_write` does both for one key. Batches go through `core.edits.template`, which uses
the same `field_writes`. `core.store.apply` carries a plan out in one server-side script that
compare-and-sets the fields, so only the fields named here are ever written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from types import MappingProxyType

from keyops.core.errors import BadInput
from keyops.core.safe_text import printable
from keyops.core.schema import layout
from keyops.core.schema.bindings import Binding, BindingKind, format_binding
from keyops.core.schema.encoding import (
    decode_bool,
    decode_tags,
    encode_bool,
    encode_iso,
    encode_json,
)
from keyops.core.schema.js_text import js_trim
from keyops.core.schema.platforms import BindingField

# The two Claude fields are mutually exclusive: the scheduler checks claudeAccountId first, and
# CRS's UI always clears one when it sets the other.
_EXCLUSIVE_PARTNER = {
    BindingField.CLAUDE: BindingField.CLAUDE_CONSOLE,
    BindingField.CLAUDE_CONSOLE: BindingField.CLAUDE,
}

MAX_TAG_LENGTH = 64

# Not a field of the record: what a key has outside it that soft delete and restore change
# (its `apikey:hash_map` entry, a legacy `apikey_hash:{hash}` copy, its `cost_rank:*` scores).
# Edits "write" it like a field so the journal, rollback and revert carry it; the apply script
# reads and sets that state itself, finding the hash in the record's own `apiKey` field, so the
# secret never leaves Redis. Its value is the JSON state (`schema.lifecycle`), no secret in it.
LIFECYCLE = "@lifecycle"
# Written fields verify and undo do not judge by value: `updatedAt` is restamped on every
# write, the lifecycle state is read by the apply script alone (a record has no such field).
UNJUDGED_FIELDS = frozenset({"updatedAt", LIFECYCLE})

# Fields a change may need to read before planning.
PLAN_INPUT_FIELDS = (
    "name",
    "tags",
    "isActive",
    "isDeleted",
    "expiresAt",
    "updatedAt",
    *tuple(BindingField),
)


class KeyChange:
    """What an operator wants a key to look like afterwards; None / absent = leave as is."""

    __slots__ = ("bindings", "expires_at", "is_active", "name", "tags")

    def __init__(
        self,
        *,
        tags: list[str] | None = None,
        is_active: bool | None = None,
        name: str | None = None,
        bindings: dict[BindingField, Binding] | None = None,
        expires_at: str | None = None,
    ) -> None:
        """`expires_at`: an ISO timestamp, or '' for never; None leaves it as it is."""
        self.expires_at = expires_at
        self.tags = None if tags is None else normalize_tags(tags)
        self.is_active = is_active
        self.name = name
        self.bindings = dict(bindings or {})
        for binding_field, binding in self.bindings.items():
            if binding.field is not binding_field:
                raise BadInput(f"binding for {binding_field} names field {binding.field}")
        claude = self.bindings.get(BindingField.CLAUDE)
        console = self.bindings.get(BindingField.CLAUDE_CONSOLE)
        if (
            claude is not None
            and console is not None
            and claude.kind is not BindingKind.SHARED
            and console.kind is not BindingKind.SHARED
        ):
            raise BadInput(
                "claudeAccountId and claudeConsoleAccountId are mutually exclusive: set one"
            )


def _is_control(char: str) -> bool:
    # C0, DEL and C1: terminals act on them (ESC and CSI start escape sequences).
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F


def validate_tag(tag: str) -> str:
    """A new tag as keyops writes it: trimmed as JavaScript's trim() does (CRS compares tags
    after trim()), non-empty, short, no control characters (C0, DEL or C1)."""
    trimmed = js_trim(tag)
    if not trimmed:
        raise BadInput("empty tag: tags must have at least one visible character")
    if len(trimmed) > MAX_TAG_LENGTH:
        raise BadInput(
            f"tag '{printable(trimmed[:20])}'... is {len(trimmed)} characters; at most {MAX_TAG_LENGTH}"
        )
    if any(_is_control(char) for char in trimmed):
        raise BadInput(
            f"tag '{printable(trimmed)}' contains a control character (newline, tab, escape, ...)"
        )
    return trimmed


def validate_tag_name(tag: str) -> str:
    """A tag to find and take off: whatever CRS let in, compared after trim() as CRS's tag
    routes do. Only an empty name is refused; keyops's limits apply to tags it adds."""
    trimmed = js_trim(tag)
    if not trimmed:
        raise BadInput("empty tag: name the tag to remove")
    return trimmed


def normalize_tags(tags: list[str]) -> list[str]:
    """Trimmed, validated and de-duplicated, first occurrence wins (order is kept)."""
    seen: dict[str, None] = {}
    for tag in tags:
        seen.setdefault(validate_tag(tag), None)
    return list(seen)


@dataclass(frozen=True, slots=True)
class FieldWrite:
    field: str
    before: str | None  # None: the field does not exist yet
    after: str | None  # None: delete the field (only rollback uses this, to restore exactly)


@dataclass(frozen=True, slots=True)
class IndexOp:
    """One index-set update. `prune` removes `member` from tags:all if `key` is then empty."""

    # 'sadd' | 'srem' | 'zadd' | 'zrem' | 'prune' | 'status' (set:active/set:deleted as the
    # record says after the write)
    op: str
    key: str
    member: str


# A field the decision read but does not write, and the value it saw (None: absent).
Guard = tuple[str, str | None]


@dataclass(frozen=True, slots=True)
class KeyWritePlan:
    """The writes for one key. Index updates are derived from the field transitions when the
    plan is sent, not stored: at 100,000 keys the stored ops cost more memory than the data.

    `guards` are the other fields the decision depended on (`isDeleted` always: the index
    updates follow it). The write lands only while each still holds the value the decision
    saw; otherwise the key is decided again on what it holds now. Keys that share a decision
    share the tuple."""

    key_id: str
    fields: tuple[FieldWrite, ...] = ()
    index_ready: bool = False
    is_deleted: bool = False
    guards: tuple[Guard, ...] = ()

    @property
    def is_noop(self) -> bool:
        return not self.fields

    @property
    def redis_key(self) -> str:
        return layout.api_key(self.key_id)

    @property
    def index_ops(self) -> tuple[IndexOp, ...]:
        return index_ops_for(self.key_id, self.fields, self.index_ready, self.is_deleted)


def index_ops_for(
    key_id: str, fields: tuple[FieldWrite, ...], index_ready: bool, is_deleted: bool
) -> tuple[IndexOp, ...]:
    """CRS's index updates for these field transitions (none when the index is not ready)."""
    if not index_ready or not fields:
        return ()
    ops: list[IndexOp] = []
    # A soft delete, restore or their undo: set:active / set:deleted follow what the record
    # holds once written (the script reads isDeleted and isActive back), since a restore or a
    # rollback may or may not write isActive.
    lifecycle = any(write.field == "isDeleted" for write in fields)
    for write in fields:
        if write.field == "tags":
            ops.extend(_tag_index_ops(key_id, write.before, write.after))
        elif write.field == "isActive" and not lifecycle:
            ops.extend(_status_index_ops(key_id, decode_bool(write.after), is_deleted))
        elif write.field == "name":
            ops.append(
                IndexOp(
                    "zrem", layout.IDX_NAME, layout.name_index_member(write.before or "", key_id)
                )
            )
            ops.append(
                IndexOp(
                    "zadd", layout.IDX_NAME, layout.name_index_member(write.after or "", key_id)
                )
            )
    if lifecycle:
        ops.append(IndexOp("status", layout.SET_ACTIVE, key_id))
    return tuple(ops)


INDEXED_FIELDS = frozenset({"tags", "isActive", "name"})


def plan_key_write(
    key_id: str,
    current: Mapping[str, str],
    change: KeyChange,
    *,
    now: datetime | str,
    index_ready: bool,
) -> KeyWritePlan:
    """The field writes and index updates that make `current` into what `change` asks for.

    `current` holds the key's stored strings (at least PLAN_INPUT_FIELDS that exist). A change
    that alters nothing gives an empty plan: no updatedAt, no EXPIRE, no index write.
    """
    wanted = change_fields(key_id, current, change)
    return plan_field_writes(key_id, current, dict(wanted), now=now, index_ready=index_ready)


def change_fields(key_id: str, current: Mapping[str, str], change: KeyChange) -> dict[str, str]:
    """The stored strings `change` asks for, encoded as CRS stores them (the Claude partner
    field cleared when the other is bound)."""
    wanted: dict[str, str] = {}
    is_deleted = decode_bool(current.get("isDeleted"))
    if change.tags is not None:
        wanted["tags"] = encode_json(change.tags)
    if change.is_active is not None:
        if change.is_active and is_deleted:
            raise BadInput(f"key {key_id} is soft-deleted; keyops never enables a deleted key")
        wanted["isActive"] = encode_bool(change.is_active)
    if change.name is not None:
        name = js_trim(change.name)
        if not 1 <= len(name) <= 100:
            raise BadInput("a key name must be 1 to 100 characters after trimming")
        wanted["name"] = name
    if change.expires_at is not None:
        wanted["expiresAt"] = change.expires_at
    for binding_field, binding in change.bindings.items():
        wanted[binding_field] = format_binding(binding)
        partner = _EXCLUSIVE_PARTNER.get(binding_field)
        if partner is not None and binding.kind is not BindingKind.SHARED:
            wanted.setdefault(partner, "")
    return wanted


# An undone operation's journal entry for a key: field -> [before, after].
NOTHING_UNDONE: Mapping[str, Sequence[str | None]] = MappingProxyType({})


def field_writes(
    current: Mapping[str, str],
    wanted: Mapping[str, str | None],
    *,
    stamp: str | None,
    undoing: Mapping[str, Sequence[str | None]] = NOTHING_UNDONE,
) -> tuple[FieldWrite, ...]:
    """Writes that give each field in `wanted` its stored string (None: no such field).

    When anything changes, `updatedAt` is written too: `stamp` when given (an edit, as CRS
    does), else the `updatedAt` in `wanted` (an exact rollback, so the record comes back byte
    for byte). Its before-value is left out: the apply script journals what the key holds
    when it writes, and without it keys with the same change share one tuple of writes.

    `undoing` (revert, rollback): the undone operation's journal entry. A wanted field that
    already holds its value is still written, as the change from what the op wrote: the script
    answers `already` for it and runs the undo's index updates, which a CRS whole-hash
    rewrite putting the old value back never made.
    """
    writes: list[FieldWrite] = []
    for name, value in wanted.items():
        if name == "updatedAt":
            continue
        held = current.get(name)
        if held != value:
            writes.append(FieldWrite(name, held, value))
        elif name in undoing and undoing[name][1] != value:
            writes.append(FieldWrite(name, undoing[name][1], value))
    if not writes:
        return ()
    if stamp is not None:
        writes.append(FieldWrite("updatedAt", None, stamp))
    elif "updatedAt" in wanted and current.get("updatedAt") != wanted["updatedAt"]:
        writes.append(FieldWrite("updatedAt", None, wanted["updatedAt"]))
    return tuple(writes)


def plan_field_writes(
    key_id: str,
    current: Mapping[str, str],
    wanted: Mapping[str, str | None],
    *,
    now: datetime | str,
    index_ready: bool,
) -> KeyWritePlan:
    """`field_writes` for one key, stamped `now`, as a plan with CRS's index updates."""
    stamp = now if isinstance(now, str) else encode_iso(now)
    writes = field_writes(current, wanted, stamp=stamp)
    if not writes:
        return KeyWritePlan(key_id)
    is_deleted = current.get("isDeleted")
    return KeyWritePlan(
        key_id, writes, index_ready, decode_bool(is_deleted), (("isDeleted", is_deleted),)
    )


@lru_cache(maxsize=4096)
def _tag_transition(
    before: str | None, after: str | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(dropped, added) tags between two stored lists; cached because keys share tag lists."""
    old_tags, new_tags = decode_tags(before), decode_tags(after)
    old_set, new_set = set(old_tags), set(new_tags)
    dropped = tuple(tag for tag in dict.fromkeys(old_tags) if tag not in new_set)
    added = tuple(tag for tag in dict.fromkeys(new_tags) if tag not in old_set)
    return dropped, added


def _tag_index_ops(key_id: str, before: str | None, after: str | None) -> list[IndexOp]:
    """updateIndex's tag branch, minus its no-op writes: SREM dropped tags, SADD added ones
    (to their set and to tags:all), prune the sets that dropped tags leave empty."""
    dropped, added = _tag_transition(before, after)
    ops = [IndexOp("srem", layout.tag_set(tag), key_id) for tag in dropped]
    for tag in added:
        ops.append(IndexOp("sadd", layout.tag_set(tag), key_id))
        ops.append(IndexOp("sadd", layout.TAGS_ALL, layout.tag_member(tag)))
    ops.extend(IndexOp("prune", layout.tag_set(tag), layout.tag_member(tag)) for tag in dropped)
    return ops


def _status_index_ops(key_id: str, is_active: bool, is_deleted: bool) -> list[IndexOp]:
    if is_deleted:
        return [
            IndexOp("sadd", layout.SET_DELETED, key_id),
            IndexOp("srem", layout.SET_ACTIVE, key_id),
        ]
    if is_active:
        return [
            IndexOp("sadd", layout.SET_ACTIVE, key_id),
            IndexOp("srem", layout.SET_DELETED, key_id),
        ]
    return [
        IndexOp("srem", layout.SET_ACTIVE, key_id),
        IndexOp("srem", layout.SET_DELETED, key_id),
    ]
