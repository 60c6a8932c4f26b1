"""Renaming a tag, or deleting it, on every key that carries it: CRS's tag routes
(`renameTag`, `removeTagFromAllKeys`) as batches.

As CRS does: a tag matches when it equals the name after JavaScript's `trim()`; soft-deleted
keys are left alone; a delete drops every matching tag (and the non-string items CRS drops
with them), a rename puts the new name in the first matching place and merges it with the
same tag already there (first occurrence kept). Keys that carry no matching tag are not
written. The tag sets follow the records: a key leaves `apikey:tag:{old}`, joins
`apikey:tag:{new}`, and `apikey:tags:all` loses the old name once no key carries it.

Where keyops differs: CRS takes the old name off `tags:all` even while soft-deleted keys
still carry it (they keep it, and get it back on restore); keyops keeps it there until the
last key carrying it lets it go, which is what `tags:all` means to CRS's own readers. And a
tag holding `%` renames and deletes fine (CRS's route decodes the name twice and fails).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from keyops.core.edits.base import EditContext, EditDefaults, Skip, Wanted
from keyops.core.edits.cli_spec import CliAction, CliCommand, Option
from keyops.core.edits.tags import ROWS as TAG_ROWS
from keyops.core.errors import BadInput, BadRequest
from keyops.core.schema.encoding import decode_json_list, encode_json
from keyops.core.schema.js_text import js_trim
from keyops.core.schema.writes import validate_tag, validate_tag_name

READS = ("tags", "isDeleted", "updatedAt")
ROWS = TAG_ROWS


class TagRename(BaseModel):
    model_config = ConfigDict(frozen=True)
    # With no --where or --ids: every key (CRS's route acts on all of them).
    everywhere: ClassVar[bool] = True

    old: str
    new: str
    atomic: bool = True

    @classmethod
    def build(cls, old: str, new: str, atomic: bool = True) -> TagRename:
        problems: list[str] = []
        clean_old = clean_new = ""
        try:
            clean_old = validate_tag_name(old)
        except BadInput as error:
            problems.append(f"old tag: {error}")
        try:
            clean_new = validate_tag(new)
        except BadInput as error:
            problems.append(f"new tag: {error}")
        if not problems and clean_old == clean_new:
            problems.append(f"'{clean_old}' is already the tag's name")
        if problems:
            raise BadRequest(problems)
        return cls(old=clean_old, new=clean_new, atomic=atomic)

    @property
    def summary(self) -> str:
        return f"tag rename: {self.old} -> {self.new}"


class TagDelete(BaseModel):
    model_config = ConfigDict(frozen=True)
    everywhere: ClassVar[bool] = True

    tag: str
    atomic: bool = True

    @classmethod
    def build(cls, tag: str, atomic: bool = True) -> TagDelete:
        try:
            return cls(tag=validate_tag_name(tag), atomic=atomic)
        except BadInput as error:
            raise BadRequest([str(error)]) from None

    @property
    def summary(self) -> str:
        return f"tag delete: {self.tag}"


class TagRouteEdit(EditDefaults):
    """Decides on the stored list alone: keys sharing a list share the decision."""

    def __init__(self, old: str, new: str | None) -> None:
        super().__init__(READS, judged=frozenset({"tags", "isDeleted"}))
        self.old = old
        self.new = new

    def wanted(self, key_id: str, current: Mapping[str, str]) -> Wanted | Skip:
        if current.get("isDeleted") == "true":
            return Skip("soft-deleted")
        items = decode_json_list(current.get("tags") or "[]")
        tags = [item for item in items if isinstance(item, str)]
        if not any(js_trim(tag) == self.old for tag in tags):
            return {}
        if self.new is None:
            kept = [tag for tag in tags if js_trim(tag) != self.old]
        else:
            kept = list(
                dict.fromkeys(self.new if js_trim(tag) == self.old else tag for tag in tags)
            )
        return {"tags": encode_json(kept)}


def prepare_rename(request: TagRename, context: EditContext) -> TagRouteEdit:
    return TagRouteEdit(request.old, request.new)


def prepare_delete(request: TagDelete, context: EditContext) -> TagRouteEdit:
    return TagRouteEdit(request.tag, None)


_BEST_EFFORT = Option(
    ("--best-effort",), {"action": "store_true", "help": "keep what succeeded when a key fails"}
)
RENAME_CLI = CliCommand(
    command="tags",
    help="add, remove or replace tags on many keys",
    actions=(
        CliAction(
            "rename",
            "rename a tag on every key carrying it (or those --where names); merges with NEW",
            (
                Option(("old",), {"metavar": "OLD", "help": "the tag as keys carry it"}),
                Option(("new",), {"metavar": "NEW", "help": "its new name"}),
                _BEST_EFFORT,
            ),
        ),
    ),
    request=lambda args: TagRename.build(args["old"], args["new"], atomic=not args["best_effort"]),
)
DELETE_CLI = CliCommand(
    command="tags",
    help=RENAME_CLI.help,
    actions=(
        CliAction(
            "delete",
            "take a tag off every key carrying it (or those --where names)",
            (Option(("tag",), {"metavar": "TAG", "help": "the tag"}), _BEST_EFFORT),
        ),
    ),
    request=lambda args: TagDelete.build(args["tag"], atomic=not args["best_effort"]),
)
