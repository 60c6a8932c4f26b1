"""Undoing an operation from its journal: revert (a finished op, as a new change) and rollback
(a failed, cancelled or interrupted op, restored byte for byte)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from keyops.core.edits.base import EditContext, EditDefaults, Journal, Skip, Wanted
from keyops.core.schema.encoding import decode_bool
from keyops.core.schema.writes import NOTHING_UNDONE

# Besides every field the journal names: a key deleted since must not be enabled again.
READS = ("isDeleted", "updatedAt", "isActive")


class RevertRequest(BaseModel):
    """Undo a finished operation: fields still holding what it wrote get their old value."""

    model_config = ConfigDict(frozen=True)
    # Best effort: a key changed since is left alone, the others are still reverted.
    atomic: ClassVar[bool] = False
    verb: ClassVar[str] = "revert"

    op: str

    @property
    def summary(self) -> str:
        return f"{self.verb} of {self.op}"


class RollbackRequest(RevertRequest):
    """Roll back an operation that did not finish: every key it wrote, exactly as before."""

    verb: ClassVar[str] = "rollback"


class RevertEdit(EditDefaults):
    """Put back the before-value of every field that still holds what the op wrote.

    `exact` (rollback of a failed or cancelled op): fields that did not exist are deleted again
    and `updatedAt` gets its old value, so the record is restored byte for byte. Otherwise
    (revert of a finished op) the undo is a new change and stamps `updatedAt` like CRS does.
    """

    # Each key is undone from its own journal entry.
    shared = False

    def __init__(self, journal: Journal, exact: bool) -> None:
        fields = sorted({name for entry in journal.values() for name in entry})
        # Damage is judged on isDeleted only: a field that moved since, damaged or not, is
        # "changed since" and left alone by the undo itself.
        super().__init__(tuple(dict.fromkeys((*READS, *fields))), judged=frozenset({"isDeleted"}))
        self.journal = journal
        self.exact = exact

    @property
    def targets(self) -> list[str]:
        return sorted(self.journal)

    def wanted(self, key_id: str, current: Mapping[str, str]) -> Wanted | Skip:
        entry = self.journal.get(key_id)
        if entry is None:
            return {}
        wanted: Wanted = {}
        moved: list[str] = []
        # Fields already back at their before-value (a CRS whole-hash rewrite from a request
        # that read the key before the op wrote it puts them back, without its index
        # updates): still part of the undo, so the write finds them `already` and runs the
        # index updates that take the key out of what the op added it to.
        back: Wanted = {}
        for name, (before, after) in entry.items():
            if name == "updatedAt":
                continue
            if current.get(name) == after:
                wanted[name] = before
            elif current.get(name) == before:
                back[name] = before
            else:
                moved.append(name)
        if decode_bool(current.get("isDeleted")) and "true" in (
            wanted.get("isActive"),
            back.get("isActive"),
        ):
            return Skip("soft-deleted since: keyops never enables a deleted key")
        if not wanted and moved:
            return Skip("changed since: " + ", ".join(moved))
        wanted.update(back)
        if self.exact and "updatedAt" in entry:
            wanted["updatedAt"] = entry["updatedAt"][0]
        return wanted

    def undoing(self, key_id: str) -> Mapping[str, Sequence[str | None]]:
        return self.journal.get(key_id, NOTHING_UNDONE)


def prepare_revert(request: RevertRequest, context: EditContext) -> RevertEdit:
    return RevertEdit(context.journal, exact=False)


def prepare_rollback(request: RollbackRequest, context: EditContext) -> RevertEdit:
    return RevertEdit(context.journal, exact=True)
