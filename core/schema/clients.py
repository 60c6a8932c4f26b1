"""The clients CRS can tell apart, for a key's `allowedClients`.

Copied from CRS v1.1.314's own list of known clients (`src/validators/clientDefinitions.js`,
served to its page by `GET /admin/supported-clients`). A request passes a key's client
restriction when it matches one listed id: its path starts with one of the id's prefixes
(lower-cased) and its User-Agent passes that client's validator. CRS skips ids it does not
know, so a list holding only unknown ids lets no request through; keyops adds only these.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KnownClient:
    id: str
    label: str
    user_agent: str  # what CRS's validator looks for, in words
    paths: tuple[str, ...]  # the path prefixes the id allows


KNOWN_CLIENTS: tuple[KnownClient, ...] = (
    KnownClient(
        "claude_code",
        "Claude Code",
        "claude-cli/X.Y.Z, plus Claude Code's headers",
        (
            "/api/v1/messages",
            "/api/v1/models",
            "/api/v1/me",
            "/api/v1/usage",
            "/api/v1/key-info",
            "/api/v1/organizations",
            "/claude/v1/messages",
            "/claude/v1/models",
            "/antigravity/api/",
            "/gemini-cli/api/",
            "/api/event_logging",
            "/v1/messages",
            "/v1/models",
            "/v1/me",
            "/v1/usage",
            "/v1/key-info",
            "/v1/organizations",
        ),
    ),
    KnownClient("gemini_cli", "Gemini CLI", "GeminiCLI/vX.Y", ("/gemini/",)),
    KnownClient(
        "codex_cli",
        "Codex CLI",
        "codex_vscode/, codex_cli_rs/ or codex_exec/ and a version",
        ("/openai/responses", "/openai/v1/responses", "/azure/"),
    ),
    KnownClient("droid_cli", "Droid CLI", "factory-cli/X.Y.Z", ("/droid/",)),
)
CLIENT_IDS: tuple[str, ...] = tuple(client.id for client in KNOWN_CLIENTS)
