"""Batch requests, validated completely before anything is planned or written.

Invalid input raises `BadRequest` with one specific message per problem.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

from keyops.core.errors import BadInput
from keyops.core.safe_text import printable
from keyops.core.schema.encoding import encode_iso, parse_iso
from keyops.core.schema.js_text import js_trim
from keyops.core.schema.platforms import BindingField
from keyops.core.schema.writes import validate_tag, validate_tag_name

MAX_TAGS_PER_REQUEST = 100


class BadRequest(BadInput):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


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


class AssignTarget(BaseModel):
    """What a binding field should point at. `ref` is an account or group id, or its name."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["account", "group", "shared"]
    ref: str = ""

    @classmethod
    def parse(cls, text: str) -> AssignTarget:
        """`shared`, `group:NAME_OR_ID`, `account:NAME_OR_ID`, or a bare account name/id.

        Nothing at all is an error, never the pool: a variable that came out empty
        (`console=$ACCOUNT`) must not unbind every selected key."""
        value = js_trim(text)
        if not value:
            raise BadInput(
                "needs a target: an account name or id, group:NAME, or 'shared' for the pool"
            )
        if value in ("shared", "pool"):
            return cls(kind="shared")
        if value.startswith("group:"):
            return cls(kind="group", ref=value[len("group:") :].strip())
        if value.startswith("account:"):
            return cls(kind="account", ref=value[len("account:") :].strip())
        return cls(kind="account", ref=value)


FIELD_ALIASES: dict[str, BindingField] = {
    "claude": BindingField.CLAUDE,
    "console": BindingField.CLAUDE_CONSOLE,
    "claude-console": BindingField.CLAUDE_CONSOLE,
    "gemini": BindingField.GEMINI,
    "openai": BindingField.OPENAI,
    "azure": BindingField.AZURE_OPENAI,
    "azure-openai": BindingField.AZURE_OPENAI,
    "bedrock": BindingField.BEDROCK,
    "droid": BindingField.DROID,
    **{field.value: field for field in BindingField},
}


class AccountAssign(BaseModel):
    model_config = ConfigDict(frozen=True)

    assignments: dict[BindingField, AssignTarget]
    overwrite_existing: bool = False
    force: bool = False
    atomic: bool = True

    @classmethod
    def build(
        cls,
        pairs: list[str],
        *,
        overwrite_existing: bool = False,
        force: bool = False,
        atomic: bool = True,
    ) -> AccountAssign:
        """From FIELD=TARGET pairs, e.g. `console=console-loop-shared`, `claude=group:grp-a`."""
        problems: list[str] = []
        assignments: dict[BindingField, AssignTarget] = {}
        for pair in pairs:
            name, sep, target = pair.partition("=")
            field = FIELD_ALIASES.get(name.strip())
            if not sep:
                problems.append(
                    f"'{printable(pair)}': expected FIELD=TARGET, e.g. console=my-account"
                )
            elif field is None:
                problems.append(
                    f"'{printable(name.strip())}' is not a binding field: one of "
                    + ", ".join(sorted({k for k in FIELD_ALIASES if "Account" not in k}))
                )
            elif field in assignments:
                problems.append(f"{field.value} is assigned twice")
            else:
                try:
                    assignments[field] = AssignTarget.parse(target)
                except BadInput as error:
                    problems.append(f"{printable(name.strip())}= {error}")
        if not pairs:
            problems.append("accounts assign needs at least one FIELD=TARGET")
        claude, console = (
            assignments.get(BindingField.CLAUDE),
            assignments.get(BindingField.CLAUDE_CONSOLE),
        )
        if claude and console and claude.kind != "shared" and console.kind != "shared":
            problems.append(
                "claudeAccountId and claudeConsoleAccountId are mutually exclusive: assign one"
            )
        if problems:
            raise BadRequest(problems)
        return cls(
            assignments=assignments,
            overwrite_existing=overwrite_existing,
            force=force,
            atomic=atomic,
        )

    @property
    def summary(self) -> str:
        parts = [
            f"{field.value}={target.kind if target.kind == 'shared' else target.kind + ':' + target.ref}"
            for field, target in self.assignments.items()
        ]
        return "assign " + ", ".join(parts)


class StatusChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    enable: bool
    expires_at: str | None = None  # ISO (as CRS stores it) or '' for never; None = unchanged
    atomic: bool = False  # a disable must land on every key it can, now

    @classmethod
    def build(
        cls,
        enable: bool,
        expires: str | None = None,
        atomic: bool = False,
        now: datetime | None = None,
    ) -> StatusChange:
        encoded: str | None = None
        if expires is not None:
            if not enable:
                raise BadRequest(["--expires only goes with enable"])
            if expires.strip().lower() == "never":
                encoded = ""
            else:
                moment = parse_iso(expires)
                if moment is None:
                    raise BadRequest(
                        [f"--expires '{printable(expires)}' is not a date (2027-01-31) or 'never'"]
                    )
                if moment <= (now or datetime.now(UTC)):
                    raise BadRequest([f"--expires {expires} is in the past"])
                encoded = encode_iso(moment)
        return cls(enable=enable, expires_at=encoded, atomic=atomic)

    @property
    def summary(self) -> str:
        text = "enable" if self.enable else "disable"
        if self.expires_at is not None:
            text += f", expires {self.expires_at or 'never'}"
        return text
