"""The account catalog: every upstream account and account group, by platform and id, so the
query language, the assignment checks and the screens can name what a binding points at."""

from __future__ import annotations

from dataclasses import dataclass, field

from keyops.core.schema.accounts import Account, AccountGroup
from keyops.core.schema.bindings import BadBinding, Binding, BindingKind, parse_binding
from keyops.core.schema.platforms import FIELD_SHORT_NAMES, BindingField, Platform
from keyops.core.schema.rows import KeyRow


@dataclass(slots=True)
class AccountCatalog:
    accounts: dict[tuple[Platform, str], Account] = field(default_factory=dict)
    groups: dict[str, AccountGroup] = field(default_factory=dict)

    def account(self, platform: Platform, account_id: str) -> Account | None:
        return self.accounts.get((platform, account_id))

    def all_accounts(self) -> list[Account]:
        return sorted(self.accounts.values(), key=lambda a: (a.platform.value, a.name.lower()))

    def all_groups(self) -> list[AccountGroup]:
        return sorted(self.groups.values(), key=lambda g: g.name.lower())

    def describe(self, binding: Binding) -> str:
        """A binding as an operator reads it: the account or group name where we know it."""
        if binding.kind is BindingKind.SHARED:
            return "shared pool"
        if binding.kind is BindingKind.GROUP:
            group = self.groups.get(binding.target_id)
            return f"group {group.name}" if group else f"group {binding.target_id[:8]} (missing)"
        assert isinstance(binding.platform, Platform)
        account = self.account(binding.platform, binding.target_id)
        return account.name if account else f"{binding.target_id[:8]} (missing)"


def binding_labels(row: KeyRow, catalog: AccountCatalog) -> list[tuple[str, str]]:
    """(field short name, what it points at) for each bound field of a key row."""
    labels = []
    for binding_field in BindingField:
        raw = row.binding(binding_field)
        if not raw:
            continue
        try:
            label = catalog.describe(parse_binding(binding_field, raw))
        except BadBinding:
            label = f"damaged {raw!r}"
        labels.append((FIELD_SHORT_NAMES[binding_field], label))
    return labels
