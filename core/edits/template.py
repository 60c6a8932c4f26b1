"""The one write template: what an edit wants of a key becomes that key's writes here, for
every kind alike (tags, status, accounts, revert, rollback, and whatever comes next).

Only fields whose stored string changes are written, plus `updatedAt` (stamped now, or for an
exact rollback set back to its old value); the index updates follow from the field transitions
when the plan is sent. A decision that changes nothing plans nothing.

Keys of a batch mostly hold the same few values (a tag list, a binding), so when an edit
decides on fields alone (`Edit.shared`), each distinct set of field values is decided once and
its keys share one immutable tuple of writes: at 100,000 keys, per-key tuples alone would cost
several MB, and sharing lets the apply step encode each tuple once.

A write is only as good as what it was decided on. The written fields are compare-and-set by
the apply script; every other field the decision read (`isDeleted` included, which the index
updates follow) goes with the writes as a guard holding the value the decision saw, so a key
soft-deleted, rebound or re-dated between deciding and writing is decided again instead of
written. The guards are a function of the same read fields the sharing is keyed by, so they
are shared too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from keyops.core.edits.base import Decision, Edit, Skip
from keyops.core.schema.encoding import encode_iso
from keyops.core.schema.writes import FieldWrite, Guard, KeyWritePlan, field_writes

# A key-independent decision: the writes, whether the key is soft-deleted (its index updates
# differ) and the read fields the writes are guarded by; a Skip; or None when nothing changes.
Outcome = tuple[tuple[FieldWrite, ...], bool, tuple[Guard, ...]] | Skip | None


class WriteTemplate:
    """`decide(key_id, stored fields) -> KeyWritePlan | Skip` for one edit: the callable a
    batch plan keeps, and the runner calls again for a key that changed under it."""

    def __init__(self, edit: Edit, *, now: datetime, index_ready: bool) -> None:
        self.edit = edit
        self.index_ready = index_ready
        # One encoded stamp for the whole batch: every key shares the string.
        self.stamp = None if edit.exact else encode_iso(now)
        # A shared decision is keyed by the fields it reads, and its writes are guarded by
        # those it does not write. updatedAt is read only so that a damaged one skips the key
        # (and for an exact rollback, which is never shared, to journal it); a decision never
        # depends on it, CRS restamps it on every edit, and every key's is different.
        self._token_fields = tuple(
            name for name in dict.fromkeys((*edit.reads, "isDeleted")) if name != "updatedAt"
        )
        self._outcomes: dict[tuple[str | None, ...], Outcome] = {}
        # Written fields -> the read fields that guard them (few combinations per batch).
        self._guard_names: dict[tuple[str, ...], tuple[str, ...]] = {}

    def outcome(self, key_id: str, current: Mapping[str, str]) -> Outcome:
        """The key's writes, independent of its id; shared between keys with equal fields."""
        if not self.edit.shared:
            return self._decide(key_id, current)
        token = tuple([current.get(name) for name in self._token_fields])
        if token in self._outcomes:
            return self._outcomes[token]
        outcome = self._outcomes[token] = self._decide(key_id, current)
        return outcome

    def _decide(self, key_id: str, current: Mapping[str, str]) -> Outcome:
        wanted = self.edit.wanted(key_id, current)
        if isinstance(wanted, Skip):
            return wanted
        writes = field_writes(current, wanted, stamp=self.stamp, undoing=self.edit.undoing(key_id))
        if not writes:
            return None
        written = tuple([write.field for write in writes])
        names = self._guard_names.get(written)
        if names is None:
            names = self._guard_names[written] = tuple(
                name for name in self._token_fields if name not in written
            )
        get = current.get
        return writes, get("isDeleted") == "true", tuple([(name, get(name)) for name in names])

    def plan(self, key_id: str, outcome: Outcome) -> Decision:
        if outcome is None:
            return KeyWritePlan(key_id)
        if isinstance(outcome, Skip):
            return outcome
        writes, is_deleted, guards = outcome
        return KeyWritePlan(key_id, writes, self.index_ready, is_deleted, guards)

    def __call__(self, key_id: str, current: dict[str, str]) -> Decision:
        return self.plan(key_id, self.outcome(key_id, current))
