"""Model and client restrictions: a list and the flag that turns it on, edited on many keys.

CRS's page edits these one key at a time (its batch edit has neither). A key stores the flag as
`'true'`/`'false'` and the list as `JSON.stringify` of an array; CRS's request path reads the
flag as on only for the exact string `'true'`, parses the list with `JSON.parse` (broken JSON
reads as no list) and applies it only when the flag is on and the list is not empty.

- `models restrict add|remove|clear MODEL...` edits `restrictedModels` with
  `enableModelRestriction`. Model names are compared exactly, case-sensitively; on Claude
  routes the list blocks the models, on `/openai/gemini` only the listed models pass, and the
  other routes ignore it (the preview says so).
- `clients allow add|remove|clear ID...` edits `allowedClients` with `enableClientRestriction`;
  ids come from CRS's list of known clients (`schema/clients.py`).

`add` puts the missing names at the end of the key's list and turns the restriction on;
`remove` takes names off and turns the restriction off when the list empties (an enabled empty
list restricts nothing in CRS); `clear` empties the list and turns it off. Only fields whose
meaning changes are written, so a key already restricted the way asked is left alone. A key
whose stored list is not a JSON array of strings is skipped by add and remove (re-encoding it
would change what CRS reads), and cleared like any other by clear.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from keyops.core.edits.base import EditContext, EditDefaults, Skip, Wanted
from keyops.core.edits.cli_spec import CliAction, CliCommand, Option
from keyops.core.errors import BadRequest
from keyops.core.safe_text import printable
from keyops.core.schema.clients import CLIENT_IDS
from keyops.core.schema.encoding import encode_json
from keyops.core.schema.js_text import js_json_loads, js_trim

MAX_PER_REQUEST = 100
MAX_MODEL_CHARS = 200  # model names are short; a longer one is a paste gone wrong


class ListAction(StrEnum):
    ADD = "add"
    REMOVE = "remove"
    CLEAR = "clear"


def _is_control(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code < 0xA0


def _check_model(name: str) -> str:
    if len(name) > MAX_MODEL_CHARS:
        return f"model '{printable(name[:30])}...' is {len(name)} characters; at most {MAX_MODEL_CHARS}"
    if any(_is_control(char) or char.isspace() for char in name):
        return f"model '{printable(name)}' contains a space or a control character"
    return ""


def _check_client(name: str) -> str:
    if name not in CLIENT_IDS:
        return f"'{printable(name)}' is not a client CRS knows: {', '.join(CLIENT_IDS)}"
    return ""


@dataclass(frozen=True, slots=True)
class ListSpec:
    """What differs between the model and the client restriction."""

    command: str  # `models restrict`, `clients allow`
    noun: str  # model, client
    flag: str  # the enable field
    field: str  # the list field
    check: Callable[[str], str]  # a name to add -> its problem ('' when fine)
    warning: str  # what the preview says about what the list does in CRS

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.flag, self.field, "isDeleted", "updatedAt")


MODELS = ListSpec(
    "models restrict",
    "model",
    "enableModelRestriction",
    "restrictedModels",
    _check_model,
    "CRS applies a model restriction by route: on Claude routes (/api, /claude, /openai/claude) "
    "the listed models are refused, on /openai/gemini only the listed models pass, and the "
    "OpenAI (Codex), Gemini, Droid and Azure routes do not look at it; names are compared "
    "exactly, case included",
)
CLIENTS = ListSpec(
    "clients allow",
    "client",
    "enableClientRestriction",
    "allowedClients",
    _check_client,
    "with a client restriction on, CRS lets a key's request through only from a listed client "
    "(its User-Agent and path must match the client's); a list of exactly claude_code also "
    "makes CRS check Claude Code's headers on its message routes",
)


class ListChange(BaseModel):
    """`add`, `remove` or `clear` names on a restriction list; a subclass names which list."""

    model_config = ConfigDict(frozen=True)
    SPEC: ClassVar[ListSpec]

    action: ListAction
    names: tuple[str, ...] = ()
    atomic: bool = True

    @classmethod
    def build(cls, action: str, names: list[str], atomic: bool = True) -> Any:
        spec = cls.SPEC
        problems: list[str] = []
        if action not in set(ListAction):
            problems.append(f"unknown action {action!r}: add, remove or clear")
        # A comma separates names too: neither a model nor a client id holds one.
        given = [js_trim(part) for name in names for part in name.split(",")]
        if action == ListAction.CLEAR:
            if any(given):
                problems.append(f"{spec.command} clear takes no {spec.noun}s: it empties the list")
        elif not any(given):
            problems.append(f"{spec.command} {action} needs at least one {spec.noun}")
        if len(given) > MAX_PER_REQUEST:
            problems.append(f"{len(given)} {spec.noun}s in one request; at most {MAX_PER_REQUEST}")
        clean: dict[str, None] = {}
        if action != ListAction.CLEAR and len(given) <= MAX_PER_REQUEST:
            for position, name in enumerate(given, 1):
                if not name:
                    if len(given) > 1:
                        problems.append(f"{spec.noun} #{position} is empty")
                    continue
                # Names to take off need only be names: whatever CRS let in must be removable.
                problem = spec.check(name) if action == ListAction.ADD else ""
                if problem:
                    problems.append(problem)
                clean.setdefault(name, None)
        if problems:
            raise BadRequest(problems)
        return cls(action=ListAction(action), names=tuple(clean), atomic=atomic)

    @property
    def summary(self) -> str:
        spec = self.SPEC
        if self.action is ListAction.CLEAR:
            return f"{spec.command} clear (restriction off)"
        return f"{spec.command} {self.action.value}: {', '.join(self.names)}"


class ModelsRestrict(ListChange):
    SPEC: ClassVar[ListSpec] = MODELS


class ClientsAllow(ListChange):
    SPEC: ClassVar[ListSpec] = CLIENTS


def stored_list(raw: str | None) -> list[str] | None:
    """The list as CRS reads it (a missing or empty field, or broken JSON, is no list); None
    when it holds something other than an array of strings, which add and remove leave alone."""
    if not raw:
        return []
    try:
        value = js_json_loads(raw)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return None


class ListEdit(EditDefaults):
    def __init__(self, request: ListChange) -> None:
        spec = request.SPEC
        clear = request.action is ListAction.CLEAR
        # clear replaces whatever is stored, damaged or not; add and remove build on the list.
        judged = frozenset({"isDeleted"} if clear else {"isDeleted", spec.field})
        warnings = [] if clear else [spec.warning]
        super().__init__(spec.reads, warnings, judged=judged)
        self.spec = spec
        self.action = request.action
        self.names = list(request.names)
        self.name_set = set(request.names)

    def wanted(self, key_id: str, current: Mapping[str, str]) -> Wanted | Skip:
        if current.get("isDeleted") == "true":
            return Skip("soft-deleted")
        spec = self.spec
        raw_flag, raw_list = current.get(spec.flag), current.get(spec.field)
        old = stored_list(raw_list)
        if old is None and self.action is not ListAction.CLEAR:
            return Skip(
                f"{spec.field} is not a JSON list of names ({printable((raw_list or '')[:40])}); "
                f"'{spec.command} clear' empties it"
            )
        was_on = raw_flag == "true"
        if self.action is ListAction.ADD:
            assert old is not None
            new = old + [name for name in self.names if name not in old]
            on = True
        elif self.action is ListAction.REMOVE:
            assert old is not None
            new = [name for name in old if name not in self.name_set]
            on = was_on and bool(new)
        else:
            new, on = [], False
        wanted: Wanted = {}
        if old is None or new != old:
            wanted[spec.field] = encode_json(new)
        if on != was_on and (on or raw_flag is not None or spec.field in wanted):
            # Turning off writes 'false' only where the field exists or the list changes: a
            # legacy key without the fields reads as off already.
            wanted[spec.flag] = "true" if on else "false"
        return wanted


def prepare(request: ListChange, context: EditContext) -> ListEdit:
    return ListEdit(request)


def _cli(spec: ListSpec, request: type[ListChange], help_text: str, names_help: str) -> CliCommand:
    command, verb = spec.command.split()

    def build(args: Mapping[str, Any]) -> ListChange:
        result: ListChange = request.build(
            args["change"], args.get("names") or [], atomic=not args["best_effort"]
        )
        return result

    return CliCommand(
        command=command,
        help=help_text,
        actions=(
            CliAction(
                verb,
                f"add {spec.noun}s to the list (restriction on), remove them (off once empty), "
                "or clear the list (off)",
                (
                    Option(
                        ("change",),
                        {
                            "choices": tuple(action.value for action in ListAction),
                            "help": f"add or remove {spec.noun}s, or clear the list",
                        },
                    ),
                    Option(
                        ("names",), {"nargs": "*", "metavar": spec.noun.upper(), "help": names_help}
                    ),
                    Option(
                        ("--best-effort",),
                        {"action": "store_true", "help": "keep what succeeded when a key fails"},
                    ),
                ),
            ),
        ),
        request=build,
    )


MODELS_CLI = _cli(
    MODELS,
    ModelsRestrict,
    "restrict which models many keys may use",
    "model names, compared exactly (e.g. claude-opus-4-1-20250805); commas separate too",
)
CLIENTS_CLI = _cli(
    CLIENTS,
    ClientsAllow,
    "allow only some clients (Claude Code, Gemini CLI...) on many keys",
    f"client ids: {', '.join(CLIENT_IDS)}",
)
READS = MODELS.reads
CLIENT_READS = CLIENTS.reads
