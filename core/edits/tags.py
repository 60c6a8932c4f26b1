"""Tags: add (merging, replacing or skipping keys that carry tags), remove, replace."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from enum import StrEnum
from operator import attrgetter
from typing import Any

from pydantic import BaseModel, ConfigDict

from keyops.core.edits.base import EditContext, EditDefaults, RowReading, Skip, Wanted
from keyops.core.edits.cli_spec import CliAction, CliCommand, Option
from keyops.core.errors import BadInput, BadRequest
from keyops.core.safe_text import printable
from keyops.core.schema.encoding import decode_tags, encode_json
from keyops.core.schema.js_text import js_trim
from keyops.core.schema.writes import validate_tag, validate_tag_name

MAX_TAGS_PER_REQUEST = 100
READS = ("tags", "isDeleted", "updatedAt")


class TagAction(StrEnum):
    ADD = "add"
    REMOVE = "remove"
    REPLACE = "replace"


class ConflictMode(StrEnum):
    """For `add`: what to do with keys that already carry tags."""

    MERGE = "merge"  # keep the key's tags, add the new ones
    REPLACE = "replace"  # the key's tags become exactly the given ones
    SKIP = "skip"  # leave keys that already carry any of the given tags untouched


class TagEdit(BaseModel):
    model_config = ConfigDict(frozen=True)

    action: TagAction
    tags: tuple[str, ...]
    conflict: ConflictMode = ConflictMode.MERGE
    atomic: bool = True
    # With `add`: tags taken off in the same edit (the console's add and remove lists).
    remove: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        action: str,
        tags: list[str],
        conflict: str = "merge",
        atomic: bool = True,
        remove: list[str] | None = None,
    ) -> TagEdit:
        problems: list[str] = []
        if action not in set(TagAction):
            problems.append(f"unknown tag action {action!r}: add, remove or replace")
        if conflict not in set(ConflictMode):
            problems.append(f"unknown conflict mode {conflict!r}: merge, replace or skip")
        if not tags and action != TagAction.REPLACE:
            problems.append(f"tags {action} needs at least one tag")
        if len(tags) > MAX_TAGS_PER_REQUEST:
            problems.append(f"{len(tags)} tags in one request; at most {MAX_TAGS_PER_REQUEST}")
        clean: dict[str, None] = {}
        # Tags to add must pass keyops's rules; tags to take off only need a name, since any
        # tag CRS let in (70 characters, a tab) must be removable.
        check = validate_tag_name if action == TagAction.REMOVE else validate_tag
        if len(tags) <= MAX_TAGS_PER_REQUEST:
            for position, tag in enumerate(tags, 1):
                try:
                    clean.setdefault(check(tag), None)
                except BadInput as error:
                    problems.append(f"tag #{position}: {error}")
        removed: dict[str, None] = {}
        if remove and action != TagAction.ADD:
            problems.append(f"tags {action} takes no separate remove list")
        for position, tag in enumerate(remove or [], 1):
            try:
                removed.setdefault(validate_tag_name(tag), None)
            except BadInput as error:
                problems.append(f"remove tag #{position}: {error}")
        both = [tag for tag in clean if tag in removed]
        if both:
            problems.append(f"{', '.join(both)}: both added and removed; pick one")
        if problems:
            raise BadRequest(problems)
        return cls(
            action=TagAction(action),
            tags=tuple(clean),
            conflict=ConflictMode(conflict),
            atomic=atomic,
            remove=tuple(removed),
        )

    @property
    def summary(self) -> str:
        mode = f" ({self.conflict.value})" if self.action is TagAction.ADD else ""
        text = f"tags {self.action.value}{mode}: {', '.join(self.tags) or '(none)'}"
        if self.remove:
            text += f"; remove: {', '.join(self.remove)}"
        return text


class TagsEdit(EditDefaults):
    """A tag edit decides on the stored list alone, so keys sharing a list share the decision."""

    def __init__(self, request: TagEdit) -> None:
        super().__init__(READS, judged=frozenset({"tags", "isDeleted"}))
        self.request = request
        self.given = list(request.tags)
        self.given_set = set(self.given)
        self.removed = set(request.remove)

    def wanted(self, key_id: str, current: Mapping[str, str]) -> Wanted | Skip:
        if current.get("isDeleted") == "true":
            return Skip("soft-deleted")
        new = self._new_tags(current.get("tags") or "[]")
        if isinstance(new, Skip):
            return new
        return {} if new is None else {"tags": new}

    def _new_tags(self, raw: str) -> str | Skip | None:
        """The new stored list, a Skip, or None when the list stays as it is."""
        request, given, given_set = self.request, self.given, self.given_set
        old = decode_tags(raw)
        # CRS's tag routes compare after JavaScript's trim(), which is not Python's strip().
        stripped = {js_trim(tag) for tag in old}
        if request.action is TagAction.REPLACE:
            new = given
        elif request.action is TagAction.REMOVE:
            new = [tag for tag in old if js_trim(tag) not in given_set]
        elif request.conflict is ConflictMode.SKIP and given_set & stripped:
            return Skip("already carries " + printable(", ".join(sorted(given_set & stripped))))
        elif request.conflict is ConflictMode.REPLACE:
            new = given
        else:
            # Existing tags are kept as stored; CRS matches tags after trimming, so rewriting
            # them here would be a change nobody asked for.
            if self.removed:
                old_kept = [tag for tag in old if js_trim(tag) not in self.removed]
                stripped = {js_trim(tag) for tag in old_kept}
            else:
                old_kept = old
            new = old_kept + [tag for tag in given if tag not in stripped]
        return None if new == old else encode_json(new)


def prepare(request: TagEdit, context: EditContext) -> TagsEdit:
    return TagsEdit(request)


def _stored_tags(tags: Hashable, is_deleted: bool) -> dict[str, str]:
    # CRS stores JSON.stringify of the list, which is exactly the canonical JSON of the tags
    # the row shows; a key stored another way fails the compare-and-set and is re-read.
    assert isinstance(tags, tuple)
    fields = {"tags": encode_json(list(tags))}
    if is_deleted:
        fields["isDeleted"] = "true"
    return fields


# A 100,000-key tag edit planned from the list, without reading every key again, stays within
# twice the time of a plain HSET of the same fields (bench/batch_tags.py).
ROWS = RowReading(attrgetter("tags"), _stored_tags)


def _request(args: Mapping[str, Any]) -> TagEdit:
    return TagEdit.build(
        args["action"],
        args["tags"],
        args.get("conflict") or "merge",
        atomic=not args["best_effort"],
        remove=args.get("remove"),
    )


def _tags(help_text: str) -> Option:
    return Option(("tags",), {"nargs": "*", "metavar": "TAG", "help": help_text})


_BEST_EFFORT = Option(
    ("--best-effort",), {"action": "store_true", "help": "keep what succeeded when a key fails"}
)
CLI = CliCommand(
    command="tags",
    help="add, remove or replace tags on many keys",
    actions=(
        CliAction(
            "add",
            "add tags",
            (
                _tags("tags to add to each key"),
                Option(
                    ("--conflict",),
                    {
                        "choices": tuple(mode.value for mode in ConflictMode),
                        "default": "merge",
                        "help": "keys that already have tags: merge (default), replace them, or skip the key",
                    },
                ),
                Option(
                    ("--remove",),
                    {
                        "action": "append",
                        "metavar": "TAG",
                        "help": "also take this tag off in the same edit (repeatable)",
                    },
                ),
                _BEST_EFFORT,
            ),
        ),
        CliAction("remove", "remove tags", (_tags("tags to take off each key"), _BEST_EFFORT)),
        CliAction(
            "replace",
            "set the exact tag list",
            (_tags("the exact tag list each key gets (none: no tags)"), _BEST_EFFORT),
        ),
    ),
    request=_request,
)
