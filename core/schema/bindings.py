"""Binding values: parse a key's binding field into a typed value and format it back.

CRS encodes a binding as one string per field: '' is the shared pool, `group:{id}` a group,
`api:{id}` / `responses:{id}` a Gemini-API / OpenAI-Responses account, a bare id the field's own
platform. `console:` exists only inside CRS's web UI and is never stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from keyops.core.errors import BadInput
from keyops.core.schema.platforms import (
    FIELD_RULES,
    GROUP_PREFIX,
    BindingField,
    GroupPlatform,
    Platform,
)


class BindingKind(StrEnum):
    SHARED = "shared"  # '' : the shared pool
    ACCOUNT = "account"
    GROUP = "group"


@dataclass(frozen=True, slots=True)
class Binding:
    field: BindingField
    kind: BindingKind
    platform: Platform | GroupPlatform | None  # None only for the shared pool
    target_id: str  # '' for the shared pool

    @classmethod
    def shared(cls, field: BindingField) -> Binding:
        return cls(field, BindingKind.SHARED, None, "")

    def encode(self) -> str:
        return format_binding(self)


class BadBinding(BadInput):
    """A binding string this field cannot hold."""


def parse_binding(field: BindingField, raw: str) -> Binding:
    """The typed binding a field's stored string means; BadBinding if CRS could not route it."""
    rule = FIELD_RULES[field]
    if raw == "":
        return Binding.shared(field)
    if raw.startswith(GROUP_PREFIX):
        group_id = raw[len(GROUP_PREFIX) :]
        if rule.group_platform is None:
            raise BadBinding(f"{field}: groups cannot be bound in this field (got {raw!r})")
        if not group_id:
            raise BadBinding(f"{field}: {raw!r} names no group id")
        return Binding(field, BindingKind.GROUP, rule.group_platform, group_id)
    for prefix, platform in rule.prefixed.items():
        if raw.startswith(prefix):
            account_id = raw[len(prefix) :]
            if not account_id:
                raise BadBinding(f"{field}: {raw!r} names no account id")
            return Binding(field, BindingKind.ACCOUNT, platform, account_id)
    if ":" in raw:
        prefix = raw.split(":", 1)[0]
        raise BadBinding(f"{field}: unknown prefix {prefix + ':'!r} in {raw!r}")
    if raw != raw.strip():
        raise BadBinding(f"{field}: account id {raw!r} has surrounding white space")
    assert rule.native is not None
    return Binding(field, BindingKind.ACCOUNT, rule.native, raw)


def format_binding(binding: Binding) -> str:
    """The exact string CRS expects in the field for this binding."""
    rule = FIELD_RULES[binding.field]
    if binding.kind is BindingKind.SHARED:
        return ""
    if not binding.target_id:
        raise BadBinding(f"{binding.field}: an {binding.kind} binding needs an id")
    if binding.kind is BindingKind.GROUP:
        if rule.group_platform is None or binding.platform is not rule.group_platform:
            raise BadBinding(f"{binding.field}: cannot hold a {binding.platform} group")
        return f"{GROUP_PREFIX}{binding.target_id}"
    if binding.platform is rule.native:
        return binding.target_id
    for prefix, platform in rule.prefixed.items():
        if binding.platform is platform:
            return f"{prefix}{binding.target_id}"
    raise BadBinding(f"{binding.field}: cannot hold a {binding.platform} account")
