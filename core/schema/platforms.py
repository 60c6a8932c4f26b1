"""Upstream platforms, their Redis stores, and which key field binds to them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Platform(StrEnum):
    """An account store in CRS. Values are the names CRS uses in `platform` fields."""

    CLAUDE = "claude"
    CLAUDE_CONSOLE = "claude-console"
    GEMINI = "gemini"
    GEMINI_API = "gemini-api"
    OPENAI = "openai"
    OPENAI_RESPONSES = "openai-responses"
    AZURE_OPENAI = "azure-openai"
    BEDROCK = "bedrock"
    DROID = "droid"
    CCR = "ccr"


class BindingField(StrEnum):
    """The API-key hash fields that bind a key to an upstream account or group."""

    CLAUDE = "claudeAccountId"
    CLAUDE_CONSOLE = "claudeConsoleAccountId"
    GEMINI = "geminiAccountId"
    OPENAI = "openaiAccountId"
    AZURE_OPENAI = "azureOpenaiAccountId"
    BEDROCK = "bedrockAccountId"
    DROID = "droidAccountId"


# How screens and the CLI name the binding fields in one word.
FIELD_SHORT_NAMES: dict[BindingField, str] = {
    BindingField.CLAUDE: "claude",
    BindingField.CLAUDE_CONSOLE: "console",
    BindingField.GEMINI: "gemini",
    BindingField.OPENAI: "openai",
    BindingField.AZURE_OPENAI: "azure",
    BindingField.BEDROCK: "bedrock",
    BindingField.DROID: "droid",
}


class GroupPlatform(StrEnum):
    """`account_group:{id}.platform`: the four platforms a group can serve."""

    CLAUDE = "claude"
    GEMINI = "gemini"
    OPENAI = "openai"
    DROID = "droid"


@dataclass(frozen=True, slots=True)
class AccountStore:
    platform: Platform
    record_prefix: str
    index_set: str
    json_string: bool = False  # Bedrock stores a JSON string, not a hash


ACCOUNT_STORES: dict[Platform, AccountStore] = {
    store.platform: store
    for store in (
        AccountStore(Platform.CLAUDE, "claude:account:", "claude:account:index"),
        AccountStore(
            Platform.CLAUDE_CONSOLE, "claude_console_account:", "claude_console_account:index"
        ),
        AccountStore(Platform.GEMINI, "gemini_account:", "gemini_account:index"),
        AccountStore(Platform.GEMINI_API, "gemini_api_account:", "gemini_api_account:index"),
        AccountStore(Platform.OPENAI, "openai:account:", "openai:account:index"),
        AccountStore(
            Platform.OPENAI_RESPONSES, "openai_responses_account:", "openai_responses_account:index"
        ),
        AccountStore(Platform.AZURE_OPENAI, "azure_openai:account:", "azure_openai:account:index"),
        AccountStore(Platform.BEDROCK, "bedrock_account:", "bedrock_account:index", True),
        AccountStore(Platform.DROID, "droid:account:", "droid:account:index"),
        AccountStore(Platform.CCR, "ccr_account:", "ccr_account:index"),
    )
}


@dataclass(frozen=True, slots=True)
class FieldRule:
    """What a binding field may hold (docs/crs-layout.md, "Binding fields")."""

    native: Platform | None  # the platform of a bare id
    prefixed: dict[str, Platform]  # 'api:' -> gemini-api, 'responses:' -> openai-responses
    group_platform: GroupPlatform | None  # None: groups never go in this field


FIELD_RULES: dict[BindingField, FieldRule] = {
    BindingField.CLAUDE: FieldRule(Platform.CLAUDE, {}, GroupPlatform.CLAUDE),
    BindingField.CLAUDE_CONSOLE: FieldRule(Platform.CLAUDE_CONSOLE, {}, None),
    BindingField.GEMINI: FieldRule(
        Platform.GEMINI, {"api:": Platform.GEMINI_API}, GroupPlatform.GEMINI
    ),
    BindingField.OPENAI: FieldRule(
        Platform.OPENAI, {"responses:": Platform.OPENAI_RESPONSES}, GroupPlatform.OPENAI
    ),
    BindingField.AZURE_OPENAI: FieldRule(Platform.AZURE_OPENAI, {}, None),
    BindingField.BEDROCK: FieldRule(Platform.BEDROCK, {}, None),
    BindingField.DROID: FieldRule(Platform.DROID, {}, GroupPlatform.DROID),
}

GROUP_PREFIX = "group:"


def field_for_account(platform: Platform) -> BindingField | None:
    """The key field that binds to accounts of this platform (CCR has none)."""
    for field, rule in FIELD_RULES.items():
        if rule.native is platform or platform in rule.prefixed.values():
            return field
    return None
