"""The API-key record (`apikey:{id}` hash) as a pydantic model, read as leniently as CRS reads it.

The secret's hash (`apiKey`) is deliberately not part of the model: nothing built from a record
can leak it into a screen, log or audit entry. `has_secret` says whether the field exists.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from keyops.core.schema.bindings import Binding, parse_binding
from keyops.core.schema.encoding import (
    decode_bool,
    decode_json_list,
    decode_json_object,
    decode_number,
    decode_tags,
    encode_bool,
    encode_iso,
    encode_json,
    parse_iso,
)
from keyops.core.schema.platforms import BindingField

SECRET_FIELD = "apiKey"

NUMBER_FIELDS = (
    "tokenLimit",
    "concurrencyLimit",
    "rateLimitWindow",
    "rateLimitRequests",
    "rateLimitCost",
    "dailyCostLimit",
    "totalCostLimit",
    "weeklyOpusCostLimit",
    "activationDays",
)
BOOL_FIELDS = (
    "isActive",
    "enableModelRestriction",
    "enableClientRestriction",
    "isActivated",
    "enableOpenAIResponsesPayloadRules",
)
# Missing means true for this one, so it is decoded separately (docs/crs-layout.md, "Key records").
BOOL_DEFAULT_TRUE_FIELDS = ("enableOpenAIResponsesCodexAdaptation",)
LIST_FIELDS = ("restrictedModels", "allowedClients", "openaiResponsesPayloadRules")
TIME_FIELDS = (
    "createdAt",
    "lastUsedAt",
    "expiresAt",
    "activatedAt",
    "updatedAt",
    "deletedAt",
    "restoredAt",
)
STRING_FIELDS = (
    "name",
    "description",
    "expirationMode",
    "activationUnit",
    "createdBy",
    "userId",
    "userUsername",
    "weeklyResetDay",
    "weeklyResetHour",
    "deletedBy",
    "deletedByType",
    "restoredBy",
    "restoredByType",
    "ccrAccountId",
)
BINDING_FIELDS = tuple(BindingField)
KNOWN_FIELDS = frozenset(
    {
        "id",
        SECRET_FIELD,
        "icon",
        "tags",
        "permissions",
        "serviceRates",
        "isDeleted",
        *NUMBER_FIELDS,
        *BOOL_FIELDS,
        *BOOL_DEFAULT_TRUE_FIELDS,
        *LIST_FIELDS,
        *TIME_FIELDS,
        *STRING_FIELDS,
        *BINDING_FIELDS,
    }
)
PERMISSION_SERVICES = ("claude", "gemini", "openai", "droid")


def normalize_permissions(raw: str | None) -> list[str]:
    """CRS's `normalizePermissions`: JSON array, legacy 'all', a bare word or a comma list."""
    if not raw:
        return []
    text = raw.strip()
    if text.startswith("["):
        return [str(item) for item in decode_json_list(text)]
    if text == "all":
        return []
    return [part.strip() for part in text.split(",") if part.strip()]


def encode_number(value: float) -> str:
    """A plain decimal string the way JavaScript's String(number) prints common values."""
    value = float(value)  # model defaults are plain ints
    if value.is_integer():
        return str(int(value))
    return repr(value)


class ApiKeyRecord(BaseModel):
    """One API key, decoded. Field names follow CRS's camelCase so a diff reads like Redis."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str = ""
    description: str = ""
    has_secret: bool = False
    has_icon: bool = False
    tokenLimit: float = 0
    concurrencyLimit: float = 0
    rateLimitWindow: float = 0
    rateLimitRequests: float = 0
    rateLimitCost: float = 0
    dailyCostLimit: float = 0
    totalCostLimit: float = 0
    weeklyOpusCostLimit: float = 0
    activationDays: float = 0
    isActive: bool = False
    isDeleted: bool = False
    enableModelRestriction: bool = False
    enableClientRestriction: bool = False
    isActivated: bool = False
    enableOpenAIResponsesPayloadRules: bool = False
    enableOpenAIResponsesCodexAdaptation: bool = True
    restrictedModels: list[Any] = Field(default_factory=list)
    allowedClients: list[Any] = Field(default_factory=list)
    openaiResponsesPayloadRules: list[Any] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    permissions: list[str] = Field(default_factory=list)
    serviceRates: dict[str, Any] = Field(default_factory=dict)
    createdAt: datetime | None = None
    lastUsedAt: datetime | None = None
    expiresAt: datetime | None = None
    activatedAt: datetime | None = None
    updatedAt: datetime | None = None
    deletedAt: datetime | None = None
    restoredAt: datetime | None = None
    expirationMode: str = ""
    activationUnit: str = ""
    createdBy: str = ""
    userId: str = ""
    userUsername: str = ""
    weeklyResetDay: str = ""
    weeklyResetHour: str = ""
    deletedBy: str = ""
    deletedByType: str = ""
    restoredBy: str = ""
    restoredByType: str = ""
    ccrAccountId: str = ""
    bindings_raw: dict[BindingField, str] = Field(default_factory=dict)
    # Fields CRS added after the version we know, kept so a detail view can still show them.
    other_fields: dict[str, str] = Field(default_factory=dict)

    def binding(self, field: BindingField) -> Binding:
        """The typed binding of a field; BadBinding if the stored string is not routable."""
        return parse_binding(field, self.bindings_raw.get(field, ""))

    @classmethod
    def from_redis(cls, key_id: str, raw: dict[str, str]) -> ApiKeyRecord:
        """Decode a hash the way CRS's `_parseApiKeyData` does: never fails on bad values."""
        values: dict[str, Any] = {
            "id": raw.get("id") or key_id,
            "has_secret": bool(raw.get(SECRET_FIELD)),
            "has_icon": bool(raw.get("icon")),
            "isDeleted": decode_bool(raw.get("isDeleted")),
            "tags": decode_tags(raw.get("tags")),
            "permissions": normalize_permissions(raw.get("permissions")),
            "serviceRates": decode_json_object(raw.get("serviceRates")),
            "bindings_raw": {field: raw.get(field, "") for field in BindingField},
            "other_fields": {k: v for k, v in raw.items() if k not in KNOWN_FIELDS},
        }
        for name in NUMBER_FIELDS:
            values[name] = decode_number(raw.get(name))
        for name in BOOL_FIELDS:
            values[name] = decode_bool(raw.get(name))
        for name in BOOL_DEFAULT_TRUE_FIELDS:
            values[name] = raw.get(name, "true") == "true"
        for name in LIST_FIELDS:
            values[name] = decode_json_list(raw.get(name))
        for name in TIME_FIELDS:
            values[name] = parse_iso(raw.get(name))
        for name in STRING_FIELDS:
            values[name] = raw.get(name, "")
        return cls.model_validate(values)

    def to_redis(self) -> dict[str, str]:
        """Every field encoded as CRS would write it (minus the secret and icon we never hold).

        Used to create keys (seeding, tests) and to prove the codec round-trips; edits never
        write a whole record, only the fields they change (see core.schema.writes).
        """
        out: dict[str, str] = {"id": self.id, "isDeleted": encode_bool(self.isDeleted)}
        if not self.isDeleted:
            del out["isDeleted"]  # CRS only writes it on soft delete
        out["tags"] = encode_json(self.tags)
        out["permissions"] = encode_json(self.permissions)
        out["serviceRates"] = encode_json(self.serviceRates)
        for name in NUMBER_FIELDS:
            out[name] = encode_number(getattr(self, name))
        for name in (*BOOL_FIELDS, *BOOL_DEFAULT_TRUE_FIELDS):
            out[name] = encode_bool(getattr(self, name))
        for name in LIST_FIELDS:
            out[name] = encode_json(getattr(self, name))
        for name in TIME_FIELDS:
            moment = getattr(self, name)
            if moment is not None:
                out[name] = encode_iso(moment)
            elif name in ("createdAt", "lastUsedAt", "expiresAt", "activatedAt"):
                out[name] = ""
        for name in STRING_FIELDS:
            value = getattr(self, name)
            if value or name in ("name", "description", "createdBy", "userId", "userUsername"):
                out[name] = value
        for field in BindingField:
            out[field] = self.bindings_raw.get(field, "")
        out.update(self.other_fields)
        return out

    def safe_fields(self) -> dict[str, str]:
        """The record for display and export: everything except the secret, as stored strings."""
        fields = self.to_redis()
        return {name: fields[name] for name in sorted(fields)}
