"""Undoing an operation from its journal: revert (a finished op, as a new change) and rollback
(a failed, cancelled or interrupted op, restored byte for byte where nobody changed the key
since). Either undoes a key whole or not at all, and only into a state the forward edit
would allow."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from keyops.core.edits.assignment import check_binding
from keyops.core.edits.base import EditContext, EditDefaults, Journal, Skip, Wanted
from keyops.core.edits.intent import TAGS, Judgement, judge, undo_tags
from keyops.core.schema.catalog import AccountCatalog
from keyops.core.schema.encoding import decode_bool, encode_iso
from keyops.core.schema.platforms import BindingField
from keyops.core.schema.rows import KeyRow
from keyops.core.schema.writes import LIFECYCLE, NOTHING_UNDONE, UNJUDGED_FIELDS

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
    """Undo what the op wrote, per key all or nothing.

    A key whose journaled fields all still hold the op's change is undone: a field holding
    exactly what the op wrote gets its before-value back, and a tag list someone else changed
    since, but that still holds every tag the op added and none it took off, loses the op's
    change alone (`intent.undo_tags`). A key where any field moved otherwise (or was put back
    while others were not) is left entirely as it is and reported: undoing part of it could
    make a state nobody chose, like both Claude bindings set. The result must also pass the
    checks the forward edit makes: a binding put back must name an account or group that
    still exists and is usable, the two Claude fields stay exclusive, and a deleted key is
    never enabled.

    `exact` (rollback of a failed, cancelled or interrupted op): a key untouched since is
    restored byte for byte (fields that did not exist are deleted again, `updatedAt` gets
    its old value). Otherwise (revert of a finished op, or a key changed since) the undo is a
    new change and `updatedAt` is stamped as CRS does.
    """

    # Each key is undone from its own journal entry.
    shared = False

    def __init__(
        self, journal: Journal, exact: bool, catalog: AccountCatalog, now: datetime
    ) -> None:
        fields = sorted({name for entry in journal.values() for name in entry})
        if not _CLAUDE_FIELDS_SET.isdisjoint(fields):
            # Putting one back is checked against the other, journaled or not.
            fields += [name.value for name in _CLAUDE_FIELDS]
        # Damage is judged on isDeleted only: a field that moved since, damaged or not, is
        # "changed since" and leaves the key alone.
        super().__init__(tuple(dict.fromkeys((*READS, *fields))), judged=frozenset({"isDeleted"}))
        self.journal = journal
        self.exact = exact
        self.catalog = catalog
        self.stamp = encode_iso(now)
        # (field, value) -> the forward checks' problems, for each binding value put back.
        self._checked: dict[tuple[BindingField, str], list[str]] = {}
        self._warnings: dict[str, None] = {}

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
        # updates).
        back: Wanted = {}
        untouched = True  # every field holds exactly what the op wrote
        for name, (before, after) in entry.items():
            if name in UNJUDGED_FIELDS:
                continue
            now = current.get(name)
            if now == after:
                wanted[name] = before
            elif now == before:
                back[name] = before
            elif name == TAGS and judge(name, before, after, now) is Judgement.HELD:
                wanted[name] = undo_tags(before, after, now)
                untouched = False
            else:
                moved.append(name)
        # Deleted once undone (an undo of a delete brings it back: that is no enable).
        deleted = wanted.get("isDeleted", back.get("isDeleted", current.get("isDeleted")))
        if decode_bool(deleted) and "true" in (
            wanted.get("isActive"),
            back.get("isActive"),
        ):
            return Skip("soft-deleted since: keyops never enables a deleted key")
        if not wanted:
            if moved:
                return self._changed_since(key_id, moved)
            # Every field is already back: still part of the undo, so the write finds them
            # `already` and runs the index updates that take the key out of what the op
            # added it to.
            wanted = back
        elif moved or back:
            # Some of the change is still there and some was changed or undone since.
            return self._changed_since(key_id, moved + list(back))
        else:
            refusal = self._forward_checks(key_id, current, wanted)
            if refusal is not None:
                return refusal
        if LIFECYCLE in entry:
            # The key's hash_map entry, legacy copy and ranks as they were: the apply script
            # reads their state when it writes, so it is never judged here.
            wanted[LIFECYCLE] = entry[LIFECYCLE][0]
        if self.exact and "updatedAt" in entry:
            # Byte for byte only where nobody wrote since; otherwise a change, stamped.
            wanted["updatedAt"] = entry["updatedAt"][0] if untouched else self.stamp
        return wanted

    def undoing(self, key_id: str) -> Mapping[str, Sequence[str | None]]:
        return self.journal.get(key_id, NOTHING_UNDONE)

    def _changed_since(self, key_id: str, fields: list[str]) -> Skip:
        return Skip(
            "changed since: " + ", ".join(fields),
            advice=f"see who changed it: keyops audit list --key {key_id}",
        )

    def _forward_checks(
        self, key_id: str, current: Mapping[str, str], wanted: Wanted
    ) -> Skip | None:
        """Why the undone key would be one the forward edit refuses to make (None: it is not)."""
        problems: list[str] = []
        for name, value in wanted.items():
            if name in _BINDING_FIELDS and value:
                problems += self._binding_problems(BindingField(name), value)
        claude, console = (wanted.get(name, current.get(name)) for name in _CLAUDE_FIELDS)
        if claude and console and any(name in wanted for name in _CLAUDE_FIELDS):
            problems.append(
                "claudeAccountId and claudeConsoleAccountId would both be set; CRS binds a key "
                "to one of them"
            )
        if not problems:
            return None
        return Skip(
            "cannot undo: " + "; ".join(problems),
            advice=f"see its history: keyops audit list --key {key_id}",
        )

    def _binding_problems(self, field_name: BindingField, value: str) -> list[str]:
        checked = self._checked.get((field_name, value))
        if checked is None:
            resolution = check_binding(field_name, value, self.catalog)
            checked = self._checked[(field_name, value)] = resolution.problems
            self._warnings.update(dict.fromkeys(resolution.warnings))
        return checked

    def review(self, keys_after: int, rows: Iterable[KeyRow], selected: Sequence[str]) -> list[str]:
        """What the bindings put back would warn about, as an assignment of them would."""
        return list(self._warnings)


_BINDING_FIELDS = frozenset(BindingField)
_CLAUDE_FIELDS = (BindingField.CLAUDE, BindingField.CLAUDE_CONSOLE)
_CLAUDE_FIELDS_SET = frozenset(_CLAUDE_FIELDS)


def prepare_revert(request: RevertRequest, context: EditContext) -> RevertEdit:
    return RevertEdit(context.journal, exact=False, catalog=context.catalog, now=context.now)


def prepare_rollback(request: RollbackRequest, context: EditContext) -> RevertEdit:
    return RevertEdit(context.journal, exact=True, catalog=context.catalog, now=context.now)
