"""`keys create`: new keys as CRS's `generateApiKey` writes them, many at once.

The request is checked up front, every problem reported (CRS's single-key route's rules, which
are stricter than its batch route's): a base name non-empty after trim, each final name at most
100 characters, tags non-empty after trim, bindings CRS can route, limits as `limits set`
takes them, permissions as `permissions set` takes them. Names are `{base}_{i}` for
i = 1..count, as CRS's batch create names them (one key keeps the base name as given).

A record holds every field CRS's create writes, with its defaults (`record_fields`); keyops
writes `createdBy='admin'` like CRS's admin page (the operator is in the audit trail) and, like
CRS, no `updatedAt`.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from keyops.core.edits.accounts import FIELD_ALIASES
from keyops.core.edits.amounts import AmountError, parse_amount
from keyops.core.edits.limits import LIMITS, RESET_DAY, RESET_HOUR, parse_weekly_reset
from keyops.core.edits.permissions import PermissionsSet
from keyops.core.errors import BadRequest
from keyops.core.safe_text import printable
from keyops.core.schema.bindings import BadBinding, parse_binding
from keyops.core.schema.encoding import encode_iso, encode_json
from keyops.core.schema.js_text import js_trim
from keyops.core.schema.platforms import BindingField

NAME_MAX = 100  # CRS's create route: name.length <= 100

# generateApiKey's fields and defaults, in the order it writes them.
DEFAULTS: dict[str, str] = {
    "description": "",
    "tokenLimit": "0",
    "concurrencyLimit": "0",
    "rateLimitWindow": "0",
    "rateLimitRequests": "0",
    "rateLimitCost": "0",
    "isActive": "true",
    **{field.value: "" for field in BindingField},
    "permissions": "[]",
    "enableModelRestriction": "false",
    "restrictedModels": "[]",
    "enableClientRestriction": "false",
    "allowedClients": "[]",
    "dailyCostLimit": "0",
    "totalCostLimit": "0",
    "weeklyOpusCostLimit": "0",
    "tags": "[]",
    "activationDays": "0",
    "activationUnit": "days",
    "expirationMode": "fixed",
    "isActivated": "true",
    "lastUsedAt": "",
    "expiresAt": "",
    "createdBy": "admin",
    "userId": "",
    "userUsername": "",
    "icon": "",
    "serviceRates": "{}",
    "weeklyResetDay": "1",
    "weeklyResetHour": "0",
    "enableOpenAIResponsesCodexAdaptation": "true",
    "enableOpenAIResponsesPayloadRules": "false",
    "openaiResponsesPayloadRules": "[]",
}


class KeysCreate(BaseModel):
    """What every new key gets besides its id, name and secret. Stored with the audit entry."""

    model_config = ConfigDict(frozen=True)

    count: int
    base_name: str
    tags: tuple[str, ...] = ()
    fields: dict[str, str] = {}  # stored field -> value (limits, bindings, permissions)

    @classmethod
    def build(
        cls,
        count: int,
        base_name: str,
        *,
        tags: list[str] | None = None,
        binds: list[str] | None = None,
        limits: dict[str, str | None] | None = None,
        weekly_reset: str | None = None,
        permissions: str | None = None,
    ) -> KeysCreate:
        problems: list[str] = []
        if count < 1:
            problems.append(f"--count {count}: at least 1 key")
        if not js_trim(base_name):
            problems.append("--name needs a name (not blank)")
        else:
            longest = base_name if count == 1 else f"{base_name}_{max(count, 1)}"
            # JavaScript's `length` counts UTF-16 code units (an emoji is two).
            length = len(longest.encode("utf-16-le")) // 2
            if length > NAME_MAX:
                problems.append(
                    f"--name: '{printable(longest[:40])}...' is {length} characters; CRS "
                    f"allows {NAME_MAX} (names are NAME_1..NAME_{count})"
                )
        clean_tags: list[str] = []
        for tag in tags or []:
            trimmed = js_trim(tag)
            if not trimmed:
                problems.append("--tags: a tag is blank")
            elif trimmed not in clean_tags:
                clean_tags.append(trimmed)
        fields: dict[str, str] = {}
        for pair in binds or []:
            name, sep, value = pair.partition("=")
            field = FIELD_ALIASES.get(js_trim(name))
            if not sep or field is None or not js_trim(value):
                problems.append(
                    f"--bind '{printable(pair)}': expected PLATFORM=ACCOUNT (claude, console, "
                    "gemini, openai, azure, bedrock, droid; a group as group:ID)"
                )
                continue
            try:
                parse_binding(field, js_trim(value))
            except BadBinding as error:
                problems.append(f"--bind: {error}")
                continue
            fields[field.value] = js_trim(value)
        if fields.get(BindingField.CLAUDE.value) and fields.get(BindingField.CLAUDE_CONSOLE.value):
            problems.append("--bind: claude and console exclude each other; give one")
        for limit in LIMITS:
            text = (limits or {}).get(limit.dest)
            if text is None:
                continue
            try:
                fields[limit.field] = parse_amount(limit.option, text, integer=limit.integer)
            except AmountError as error:
                problems.append(str(error))
        if weekly_reset is not None:
            try:
                fields[RESET_DAY], fields[RESET_HOUR] = parse_weekly_reset(weekly_reset)
            except AmountError as error:
                problems.append(str(error))
        if permissions is not None:
            try:
                fields["permissions"] = encode_json(
                    list(PermissionsSet.build(permissions).services)
                )
            except BadRequest as error:
                problems += error.problems
        if problems:
            raise BadRequest(problems)
        return cls(count=count, base_name=base_name, tags=tuple(clean_tags), fields=fields)

    @property
    def summary(self) -> str:
        parts = [f"create {self.count} keys named {printable(self.base_name)}"]
        if self.tags:
            parts.append("tags " + ", ".join(printable(tag) for tag in self.tags))
        parts += [f"{name}={printable(value)}" for name, value in self.fields.items()]
        return "; ".join(parts)

    def name_of(self, index: int) -> str:
        """The name of the key number `index` (1-based)."""
        return self.base_name if self.count == 1 else f"{self.base_name}_{index}"


def record_fields(
    request: KeysCreate, key_id: str, name: str, digest: str, now: datetime
) -> dict[str, str]:
    """The whole record CRS's create would write for this key (`digest` is the stored hash)."""
    stamp = encode_iso(now)
    fields = {"id": key_id, "name": name, **DEFAULTS, "apiKey": digest}
    fields.update(request.fields)
    fields["tags"] = encode_json(list(request.tags))
    fields["activatedAt"] = stamp
    fields["createdAt"] = stamp
    return fields
