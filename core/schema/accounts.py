"""Upstream accounts of every platform and account groups, with CRS's health rule.

Only the fields an assignment needs are decoded; credentials (encrypted in CRS) are never read
into these models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keyops.core.schema.js_text import js_json_loads
from keyops.core.schema.platforms import GroupPlatform, Platform

# commonHelper.isAccountHealthy: these statuses make an active account unhealthy.
UNHEALTHY_STATUSES = frozenset({"error", "unauthorized", "blocked", "temp_error"})

# Platforms whose scheduler fails a key's requests outright when its bound account is bad,
# instead of falling back to the shared pool (docs/crs-layout.md, "Accounts and the shared pool").
HARD_FAIL_PLATFORMS = frozenset(
    {Platform.CLAUDE, Platform.OPENAI, Platform.OPENAI_RESPONSES, Platform.DROID}
)


def _truthy(value: Any) -> bool:
    """isActive: str-bool in hashes, a real boolean in Bedrock's JSON."""
    return value is True or value == "true"


# Frozen dataclasses rather than pydantic models: `keyops keys list` builds these for every
# account, and should not pay for importing pydantic.
@dataclass(frozen=True, slots=True)
class Account:
    id: str
    platform: Platform
    name: str = ""
    is_active: bool = False
    status: str = ""
    schedulable: bool = True
    account_type: str = "shared"

    @property
    def healthy(self) -> bool:
        """CRS's generic rule: active, and status not one of the failure states."""
        return self.is_active and self.status not in UNHEALTHY_STATUSES

    @property
    def dedicated(self) -> bool:
        return self.account_type == "dedicated"

    @property
    def fails_hard_when_unhealthy(self) -> bool:
        return self.platform in HARD_FAIL_PLATFORMS

    @classmethod
    def from_fields(cls, platform: Platform, account_id: str, fields: dict[str, Any]) -> Account:
        schedulable = fields.get("schedulable", True)
        return cls(
            id=str(fields.get("id") or account_id),
            platform=platform,
            name=str(fields.get("name") or ""),
            is_active=_truthy(fields.get("isActive")),
            # Bedrock records carry no status; an active one is as good as 'active'.
            status=str(fields.get("status") or ("active" if platform is Platform.BEDROCK else "")),
            # isSchedulable: anything but 'false' / false counts as schedulable.
            schedulable=schedulable not in ("false", False),
            account_type=str(fields.get("accountType") or "shared"),
        )

    @classmethod
    def from_bedrock_json(cls, account_id: str, raw: str) -> Account:
        try:
            fields = js_json_loads(raw)
        except ValueError:
            fields = {}
        if not isinstance(fields, dict):
            fields = {}
        return cls.from_fields(Platform.BEDROCK, account_id, fields)


@dataclass(frozen=True, slots=True)
class AccountGroup:
    id: str
    name: str = ""
    platform: GroupPlatform | None = None  # None when the stored platform is unknown
    description: str = ""
    member_ids: frozenset[str] = frozenset()

    @classmethod
    def from_fields(cls, group_id: str, fields: dict[str, str], members: set[str]) -> AccountGroup:
        raw_platform = fields.get("platform", "")
        platform = GroupPlatform(raw_platform) if raw_platform in set(GroupPlatform) else None
        return cls(
            id=fields.get("id") or group_id,
            name=fields.get("name", ""),
            platform=platform,
            description=fields.get("description", ""),
            member_ids=frozenset(members),
        )
