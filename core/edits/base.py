"""What every kind of edit has in common: the decision for one key, and the context a decision
may look at besides the key's own fields.

An edit kind never builds writes itself. It says what it wants each field to hold
(`Wanted`), or why the key is left alone (`Skip`); `template.WriteTemplate` turns that into
the key's writes the same way for every kind.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from keyops.core.schema.catalog import AccountCatalog
from keyops.core.schema.rows import KeyRow
from keyops.core.schema.writes import NOTHING_UNDONE, KeyWritePlan

# key id -> {field: [before, after]}: what an operation wrote to each key.
Journal = dict[str, dict[str, list[str | None]]]
# field -> the stored string it should hold (None: no such field; only an exact rollback).
Wanted = dict[str, str | None]


@dataclass(frozen=True, slots=True)
class Skip:
    reason: str
    conflict: bool = False  # bound elsewhere and not allowed to overwrite
    # What the operator can do about it. A skip with advice needs a look: the outcome lists
    # such keys by name, where other skips are only counted.
    advice: str = ""


Decision = KeyWritePlan | Skip
Decide = Callable[[str, dict[str, str]], Decision]


class EditRequest(Protocol):
    """What every kind's request (a pydantic model) offers the engine: a one-line summary for
    previews, the audit and the logs; whether one failure rolls the whole batch back; its
    parameters as stored with the operation (what a resume rebuilds it from)."""

    @property
    def summary(self) -> str: ...

    @property
    def atomic(self) -> bool: ...

    def model_dump(self, *, mode: str = "python") -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class RowReading:
    """How an edit's read fields are taken from the loaded key list instead of Redis.

    Rows with equal `key(row)` have equal read fields, `fields(key, is_deleted)`; a batch then
    decides once per distinct key. The write compare-and-sets what it writes and is guarded
    by the rest of what the list showed (`isDeleted` included), so a key whose stored value
    differs from the list (edited or soft-deleted since, or spelled another way) is re-read
    and decided again from Redis, never overwritten.
    """

    key: Callable[[KeyRow], Hashable]
    fields: Callable[[Hashable, bool], dict[str, str]]


@dataclass(frozen=True, slots=True)
class EditContext:
    """What preparing an edit may look at besides each key: when, the index state, the
    accounts, and for revert and rollback the journal of the operation being undone."""

    now: datetime
    index_ready: bool
    catalog: AccountCatalog = field(default_factory=AccountCatalog)
    journal: Journal = field(default_factory=dict)


class Edit(Protocol):
    """A request made ready to decide: built once per batch by its kind's `prepare`."""

    @property
    def reads(self) -> tuple[str, ...]:
        """The fields `wanted` looks at (what planning reads from Redis)."""

    @property
    def judged(self) -> frozenset[str]:
        """The fields the decision depends on: a value CRS never writes there skips the key,
        anywhere else it does not (a disable depends on `isActive` alone, so an unreadable
        date never keeps a key live)."""

    @property
    def shared(self) -> bool:
        """True when `wanted` depends on the key's fields alone, never on its id: keys with
        the same fields then share one decision and one tuple of writes."""

    @property
    def exact(self) -> bool:
        """True for an exact rollback: `updatedAt` gets its old value back instead of a
        new stamp."""

    @property
    def warnings(self) -> list[str]:
        """What the operator should know before running it (unhealthy targets...)."""

    def wanted(self, key_id: str, current: Mapping[str, str]) -> Wanted | Skip:
        """What this key's fields should hold, or why it is left alone."""

    def undoing(self, key_id: str) -> Mapping[str, Sequence[str | None]]:
        """For an undo (revert, rollback): the undone operation's journal entry for this key
        (field -> [before, after]). A wanted field already back at its value is still written
        as the change from what the op wrote, so the undo's index updates run
        (`schema.writes.field_writes`)."""

    def review(self, keys_after: int, rows: Iterable[KeyRow], selected: Sequence[str]) -> list[str]:
        """Warnings once the plan is known: `keys_after` keys will hold the change; `rows`
        is the loaded list, `selected` the ids the batch acts on."""


class EditDefaults:
    """The usual answers of an `Edit`, for kinds to inherit."""

    shared = True
    exact = False

    def __init__(
        self,
        reads: tuple[str, ...],
        warnings: list[str] | None = None,
        *,
        judged: frozenset[str] | None = None,
    ) -> None:
        self.reads = reads
        self.warnings = warnings or []
        # updatedAt is never judged: every write stamps it afresh and journals the old value.
        self.judged = judged if judged is not None else frozenset(reads) - {"updatedAt"}

    def undoing(self, key_id: str) -> Mapping[str, Sequence[str | None]]:
        return NOTHING_UNDONE

    def review(self, keys_after: int, rows: Iterable[KeyRow], selected: Sequence[str]) -> list[str]:
        return []
