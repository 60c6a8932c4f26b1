"""Account assignment: bind keys' binding fields to an account, a group or the shared pool."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from keyops.core.edits.assignment import AssignTarget, ResolvedTarget, resolve_assignment
from keyops.core.edits.base import EditContext, EditDefaults, Skip, Wanted
from keyops.core.edits.cli_spec import CliAction, CliCommand, Option
from keyops.core.errors import BadInput, BadRequest
from keyops.core.safe_text import printable
from keyops.core.schema.bindings import BadBinding, Binding, BindingKind, parse_binding
from keyops.core.schema.catalog import AccountCatalog
from keyops.core.schema.encoding import decode_bool
from keyops.core.schema.platforms import FIELD_SHORT_NAMES, BindingField, Platform
from keyops.core.schema.rows import KeyRow
from keyops.core.schema.writes import KeyChange, change_fields

READS = ("isDeleted", "updatedAt", *tuple(BindingField))

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

# The two Claude fields exclude each other: binding one clears the other.
_PARTNER = {
    BindingField.CLAUDE: BindingField.CLAUDE_CONSOLE,
    BindingField.CLAUDE_CONSOLE: BindingField.CLAUDE,
}


class AccountAssign(BaseModel):
    model_config = ConfigDict(frozen=True)

    assignments: dict[BindingField, AssignTarget]
    # A move: per field, the stored value a key must hold now to be rebound. A key bound to
    # anything else is left alone (not a conflict), so "every key on A -> B" is one request and
    # never rebinds a key that moved off A since the list was read.
    move_from: dict[BindingField, str] = {}
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
        move_from: dict[BindingField, str] | None = None,
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
        for field in move_from or {}:
            if field not in assignments:
                problems.append(f"a move from {field.value} needs a target for {field.value}")
        if problems:
            raise BadRequest(problems)
        return cls(
            assignments=assignments,
            move_from=move_from or {},
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


class AccountsEdit(EditDefaults):
    def __init__(
        self,
        request: AccountAssign,
        resolved: dict[BindingField, ResolvedTarget],
        catalog: AccountCatalog,
        warnings: list[str],
    ) -> None:
        super().__init__(READS, warnings)
        self.request = request
        self.resolved = resolved
        self.catalog = catalog

    def _label(self, field_name: BindingField, raw: str) -> str:
        try:
            return printable(self.catalog.describe(parse_binding(field_name, raw)))
        except BadBinding:
            return f"damaged value {raw!r}"

    @property
    def summary(self) -> str:
        """The request's summary with account and group names (an id says nothing at 3 a.m.)."""
        parts = []
        for field_name, target in self.resolved.items():
            moved = self.request.move_from.get(field_name)
            if moved is None:
                parts.append(f"{field_name.value}={target.label}")
            else:
                parts.append(
                    f"{FIELD_SHORT_NAMES[field_name]} keys from {self._label(field_name, moved)}"
                    f" to {target.label}"
                )
        return ("move " if self.request.move_from else "assign ") + ", ".join(parts)

    def wanted(self, key_id: str, current: Mapping[str, str]) -> Wanted | Skip:
        if decode_bool(current.get("isDeleted")):
            return Skip("soft-deleted")
        for field_name, moved in self.request.move_from.items():
            existing = current.get(field_name, "")
            if existing != moved:
                now = self._label(field_name, existing) if existing else "nothing"
                return Skip(f"not on {self._label(field_name, moved)} (bound to {now})")
        bindings: dict[BindingField, Binding] = {}
        for field_name, target in self.resolved.items():
            wanted = target.binding.encode()
            touched = [field_name]
            partner = _PARTNER.get(field_name)
            if (
                partner is not None
                and target.binding.kind is not BindingKind.SHARED
                and partner not in self.resolved
            ):
                touched.append(partner)
            for name in touched:
                existing = current.get(name, "")
                goal = wanted if name is field_name else ""
                moving = self.request.move_from.get(name) == existing
                if (
                    existing
                    and existing != goal
                    and not moving
                    and not self.request.overwrite_existing
                ):
                    return Skip(
                        f"{name.value} is bound to {self._label(name, existing)}; use --overwrite-existing",
                        conflict=True,
                    )
            if current.get(field_name, "") != wanted or any(
                current.get(p, "") for p in touched[1:]
            ):
                bindings[field_name] = target.binding
        if not bindings:
            return {}
        return dict(change_fields(key_id, current, KeyChange(bindings=bindings)))

    def review(self, keys_after: int, rows: Iterable[KeyRow], selected: Sequence[str]) -> list[str]:
        """A dedicated account serves one key: say when it would serve more."""
        dedicated = [
            target.account
            for target in self.resolved.values()
            if target.account is not None and target.account.dedicated
        ]
        if not dedicated:
            return []
        elsewhere = _bound_accounts(rows, set(selected))
        warnings = []
        for account in dedicated:
            total = keys_after + elsewhere[(account.platform, account.id)]
            if total > 1:
                warnings.append(f"dedicated account {account.name!r} will be bound to {total} keys")
        return warnings


def _bound_accounts(rows: Iterable[KeyRow], selected: set[str]) -> Counter[tuple[Platform, str]]:
    """How many live keys outside the selection each account is bound to."""
    bound: Counter[tuple[Platform, str]] = Counter()
    for row in rows:
        if row.id in selected or row.is_deleted:
            continue
        for field in BindingField:
            raw = row.binding(field)
            if not raw:
                continue
            try:
                binding = parse_binding(field, raw)
            except BadBinding:
                continue
            if binding.kind is BindingKind.ACCOUNT and isinstance(binding.platform, Platform):
                bound[(binding.platform, binding.target_id)] += 1
    return bound


def prepare(request: AccountAssign, context: EditContext) -> AccountsEdit:
    """Resolves every target against the catalog; any refusal fails the whole request."""
    problems: list[str] = []
    warnings: list[str] = []
    resolved: dict[BindingField, ResolvedTarget] = {}
    for field_name, target in request.assignments.items():
        resolution = resolve_assignment(field_name, target, context.catalog, request.force)
        problems += resolution.problems
        warnings += resolution.warnings
        if resolution.target is not None:
            resolved[field_name] = resolution.target
    if problems:
        raise BadRequest(problems)
    return AccountsEdit(request, resolved, context.catalog, warnings)


def _request(args: Mapping[str, Any]) -> AccountAssign:
    return AccountAssign.build(
        args["assignments"],
        overwrite_existing=args["overwrite_existing"],
        force=args["force"],
        atomic=not args["best_effort"],
    )


CLI = CliCommand(
    command="accounts",
    help="upstream accounts: list, assign keys to them",
    actions=(
        CliAction(
            "assign",
            "bind keys to an account, a group or the shared pool",
            (
                Option(
                    ("assignments",),
                    {
                        "nargs": "+",
                        "metavar": "FIELD=TARGET",
                        "help": "e.g. console=my-account, claude=group:my-group, gemini=shared",
                    },
                ),
                Option(
                    ("--overwrite-existing",),
                    {"action": "store_true", "help": "replace bindings keys already have"},
                ),
                Option(
                    ("--force",),
                    {"action": "store_true", "help": "bind even to an unhealthy hard-fail account"},
                ),
                Option(
                    ("--best-effort",),
                    {"action": "store_true", "help": "keep what succeeded when a key fails"},
                ),
            ),
        ),
    ),
    request=_request,
)
