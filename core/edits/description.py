"""Description: one text set on many keys (or cleared), which no CRS route can change.

CRS takes a description only when a key is created (at most 500 characters, as JavaScript
counts them: UTF-16 code units) and stores it as given; its user portal trims it first. Its
write primitive `updateApiKey` accepts `description` and stores it as the string, so a key
keyops edits holds exactly what a create with that description would have stored. keyops
trims it as JavaScript's `trim()` does (white space at the ends shows nowhere) and refuses
control characters other than a line break or a tab, which a description may hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from keyops.core.edits.base import EditContext, EditDefaults, Skip, Wanted
from keyops.core.edits.cli_spec import CliAction, CliCommand, Option
from keyops.core.errors import BadRequest
from keyops.core.safe_text import printable
from keyops.core.schema.js_text import has_lone_surrogate, js_trim

MAX_CHARS = 500  # CRS's create route
READS = ("description", "isDeleted", "updatedAt")
_ALLOWED_CONTROLS = "\n\t"


def js_length(text: str) -> int:
    """`text.length` in JavaScript: UTF-16 code units (an emoji counts two)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


class DescriptionSet(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str  # '' clears the description
    atomic: bool = True

    @classmethod
    def build(cls, text: str, atomic: bool = True) -> DescriptionSet:
        clean = js_trim(text)
        problems: list[str] = []
        length = js_length(clean)
        if length > MAX_CHARS:
            problems.append(
                f"the description is {length} characters (as CRS counts them); CRS allows "
                f"{MAX_CHARS}"
            )
        controls = sorted(
            {
                char
                for char in clean
                if (ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0) and char not in _ALLOWED_CONTROLS
            }
        )
        if controls:
            shown = ", ".join(printable(char) for char in controls)
            problems.append(f"the description holds control characters ({shown})")
        if has_lone_surrogate(clean):
            problems.append("the description holds half of a character (an unpaired surrogate)")
        if problems:
            raise BadRequest(problems)
        return cls(text=clean, atomic=atomic)

    @property
    def summary(self) -> str:
        if not self.text:
            return "description clear"
        shown = printable(self.text if len(self.text) <= 60 else self.text[:57] + "...")
        return f"description set: {shown}"


class DescriptionEdit(EditDefaults):
    def __init__(self, request: DescriptionSet) -> None:
        # The old text is never judged: whatever it holds is what the new one replaces.
        super().__init__(READS, judged=frozenset({"isDeleted"}))
        self.text = request.text

    def wanted(self, key_id: str, current: Mapping[str, str]) -> Wanted | Skip:
        if current.get("isDeleted") == "true":
            return Skip("soft-deleted")
        if not self.text and current.get("description") is None:
            return {}  # no field is no description: nothing to clear
        return {"description": self.text}


def prepare(request: DescriptionSet, context: EditContext) -> DescriptionEdit:
    return DescriptionEdit(request)


def _request(args: Mapping[str, Any]) -> DescriptionSet:
    text = "" if args["action"] == "clear" else args["text"]
    if args["action"] == "set" and not js_trim(text):
        raise BadRequest(["description set needs text; 'description clear' removes it"])
    return DescriptionSet.build(text, atomic=not args["best_effort"])


_BEST_EFFORT = Option(
    ("--best-effort",), {"action": "store_true", "help": "keep what succeeded when a key fails"}
)
CLI = CliCommand(
    command="description",
    help="set or clear many keys' description (CRS can only set it at creation)",
    actions=(
        CliAction(
            "set",
            f"give keys this description (trimmed; at most {MAX_CHARS} characters)",
            (Option(("text",), {"metavar": "TEXT", "help": "the description"}), _BEST_EFFORT),
        ),
        CliAction("clear", "remove keys' description", (_BEST_EFFORT,)),
    ),
    request=_request,
)
