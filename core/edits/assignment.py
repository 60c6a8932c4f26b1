"""What an assignment target means for a binding field: the account or group it names in the
catalog, checked the way CRS's scheduler would use it. Refusals are problems (the request
fails); what the operator should know but may go ahead with are warnings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict

from keyops.core.errors import BadInput
from keyops.core.safe_text import printable
from keyops.core.schema.accounts import Account, AccountGroup
from keyops.core.schema.bindings import BadBinding, Binding, BindingKind, parse_binding
from keyops.core.schema.catalog import AccountCatalog
from keyops.core.schema.js_text import js_trim
from keyops.core.schema.platforms import FIELD_RULES, BindingField, FieldRule, Platform


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


@dataclass(frozen=True, slots=True)
class ResolvedTarget:
    binding: Binding
    label: str
    account: Account | None = None


@dataclass(slots=True)
class Resolution:
    target: ResolvedTarget | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def resolve_assignment(
    field_name: BindingField, target: AssignTarget, catalog: AccountCatalog, force: bool
) -> Resolution:
    """The binding a target means for a field, with problems (refusals) and warnings."""
    if target.kind == "shared":
        return Resolution(ResolvedTarget(Binding.shared(field_name), "shared pool"))
    if target.kind == "group":
        return _resolve_group(field_name, target.ref, catalog)
    return _resolve_account(field_name, target.ref, catalog, force)


def _resolve_group(field_name: BindingField, ref: str, catalog: AccountCatalog) -> Resolution:
    rule = FIELD_RULES[field_name]
    if rule.group_platform is None:
        return Resolution(problems=[f"{field_name.value}: groups cannot be bound in this field"])
    groups = [
        g for g in catalog.groups.values() if ref == g.id or g.name.casefold() == ref.casefold()
    ]
    if not groups:
        return Resolution(problems=[f"{field_name.value}: no account group {ref!r}"])
    if len(groups) > 1:
        return Resolution(
            problems=[f"{field_name.value}: {len(groups)} groups are named {ref!r}; use the id"]
        )
    return _check_group(field_name, groups[0])


def _check_group(field_name: BindingField, group: AccountGroup) -> Resolution:
    """A group found for a field: it must serve the field's platform; an empty one warns."""
    rule = FIELD_RULES[field_name]
    assert rule.group_platform is not None
    if group.platform is not rule.group_platform:
        platform = group.platform.value if group.platform else "an unknown platform"
        return Resolution(
            problems=[
                f"{field_name.value}: group {group.name!r} serves {platform}; this field takes "
                f"{rule.group_platform.value} groups"
            ]
        )
    resolution = Resolution(
        ResolvedTarget(
            Binding(field_name, BindingKind.GROUP, group.platform, group.id),
            f"group {printable(group.name)}",
        )
    )
    if not group.member_ids:
        resolution.warnings.append(
            f"group {group.name!r} has no members: requests through it will find no account"
        )
    return resolution


def _allowed_platforms(rule: FieldRule) -> list[Platform]:
    return [p for p in (rule.native, *rule.prefixed.values()) if p is not None]


def _resolve_account(
    field_name: BindingField, ref: str, catalog: AccountCatalog, force: bool
) -> Resolution:
    allowed = _allowed_platforms(FIELD_RULES[field_name])
    matches = [
        account for account in catalog.accounts.values()
        if account.id == ref or account.name.casefold() == ref.casefold()
    ]  # fmt: skip
    fitting = [account for account in matches if account.platform in allowed]
    if not fitting:
        if matches:
            other = matches[0]
            return Resolution(
                problems=[
                    f"{field_name.value}: {other.name!r} is a {other.platform.value} account; this field "
                    f"takes {', '.join(p.value for p in allowed)} accounts"
                ]
            )
        return Resolution(
            problems=[
                f"{field_name.value}: no {' or '.join(p.value for p in allowed)} account {ref!r}"
            ]
        )
    if len(fitting) > 1:
        return Resolution(
            problems=[f"{field_name.value}: {len(fitting)} accounts are named {ref!r}; use the id"]
        )
    account = fitting[0]
    binding = Binding(field_name, BindingKind.ACCOUNT, account.platform, account.id)
    resolution = Resolution(ResolvedTarget(binding, account.name, account))
    _check_health(resolution, field_name, account, force)
    return resolution


def check_binding(field_name: BindingField, raw: str, catalog: AccountCatalog) -> Resolution:
    """The forward checks for a stored binding an undo would put back: what it names must
    still exist, fit the field and be usable as an assignment without --force requires.
    Problems mean the value cannot be restored; warnings are what an assignment would say."""
    try:
        binding = parse_binding(field_name, raw)
    except BadBinding as error:
        return Resolution(problems=[str(error)])
    if binding.kind is BindingKind.SHARED:
        return Resolution(ResolvedTarget(binding, "shared pool"))
    if binding.kind is BindingKind.GROUP:
        group = catalog.groups.get(binding.target_id)
        if group is None:
            return Resolution(
                problems=[f"{field_name.value}: group {binding.target_id} no longer exists"]
            )
        return _check_group(field_name, group)
    assert isinstance(binding.platform, Platform)
    account = catalog.account(binding.platform, binding.target_id)
    if account is None:
        return Resolution(
            problems=[
                f"{field_name.value}: {binding.platform.value} account {binding.target_id} "
                "no longer exists"
            ]
        )
    resolution = Resolution(ResolvedTarget(binding, account.name, account))
    _check_health(resolution, field_name, account, force=False, force_hint="")
    return resolution


def _check_health(
    resolution: Resolution,
    field_name: BindingField,
    account: Account,
    force: bool,
    force_hint: str = " (use --force to bind anyway)",
) -> None:
    """A bad account refuses the request where CRS fails hard on it (unless forced), and
    warns where CRS falls back to the shared pool."""
    bad = account_trouble(account)
    if not bad:
        return
    message = f"{field_name.value}: account {account.name!r} is {bad}"
    if account.fails_hard_when_unhealthy and not force:
        resolution.problems.append(
            message + f"; CRS fails {account.platform.value} requests on such an account "
            "instead of falling back" + force_hint
        )
    elif account.fails_hard_when_unhealthy:
        resolution.warnings.append(message)
    else:
        resolution.warnings.append(message + "; CRS falls back to the shared pool")


def account_trouble(account: Account) -> str:
    """Why CRS would not schedule an account ('' when it would)."""
    if not account.is_active:
        return "inactive"
    if not account.healthy:
        return f"unhealthy (status {printable(account.status)})"
    if not account.schedulable:
        return "not schedulable"
    return ""
