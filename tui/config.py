"""The console's own settings, from ~/.config/keyops/config.toml (or $XDG_CONFIG_HOME).

    theme = "ansi-dark"            # any Textual theme; ansi-dark uses the terminal's palette
    confirm_typed_above = 500      # batches larger than this are confirmed by typing the count
    refresh_rows_seconds = 2       # how often the keys on screen are read again
    refresh_list_seconds = 30      # how often the whole list is (sooner when an operation ends)

    [keymap]                       # binding id = keys (comma-separated), see `?` in the console
    "keys.mark" = "x"
    "app.palette" = "ctrl+p,colon"

A bad file stops the console at start with one line saying what is wrong; nothing is guessed.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from keyops.core.api import TYPED_CONFIRM_ABOVE, BadInput

DEFAULT_TYPED_CONFIRM = TYPED_CONFIRM_ABOVE
DEFAULT_THEME = "textual-dark"
KNOWN_KEYS = {
    "theme",
    "confirm_typed_above",
    "refresh_rows_seconds",
    "refresh_list_seconds",
    "keymap",
}
REFRESH_ROWS_SECONDS = 2.0
REFRESH_LIST_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class UiConfig:
    theme: str = DEFAULT_THEME
    confirm_typed_above: int = DEFAULT_TYPED_CONFIRM
    keymap: dict[str, str] = field(default_factory=dict)
    refresh_rows_seconds: float = REFRESH_ROWS_SECONDS
    refresh_list_seconds: float = REFRESH_LIST_SECONDS


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "keyops" / "config.toml"


def load_config(path: Path | None = None) -> UiConfig:
    path = path or config_path()
    if not path.exists():
        return UiConfig()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise BadInput(f"{path}: not valid TOML: {error}") from error
    unknown = sorted(set(raw) - KNOWN_KEYS)
    if unknown:
        raise BadInput(
            f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_KEYS))}"
        )
    theme = raw.get("theme", DEFAULT_THEME)
    if not isinstance(theme, str):
        raise BadInput(f'{path}: theme must be a string such as "ansi-dark"')
    threshold = raw.get("confirm_typed_above", DEFAULT_TYPED_CONFIRM)
    if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 0:
        raise BadInput(f"{path}: confirm_typed_above must be a whole number ≥ 0, not {threshold!r}")
    keymap = raw.get("keymap", {})
    if not isinstance(keymap, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in keymap.items()
    ):
        raise BadInput(f'{path}: [keymap] maps binding ids to key strings, e.g. "keys.mark" = "x"')
    rows_seconds = _seconds(raw, "refresh_rows_seconds", REFRESH_ROWS_SECONDS, path)
    list_seconds = _seconds(raw, "refresh_list_seconds", REFRESH_LIST_SECONDS, path)
    return UiConfig(
        theme=theme,
        confirm_typed_above=threshold,
        keymap=dict(keymap),
        refresh_rows_seconds=rows_seconds,
        refresh_list_seconds=list_seconds,
    )


def _seconds(raw: dict[str, object], name: str, default: float, path: Path) -> float:
    value = raw.get(name, default)
    # Under half a second the refresh would compete with typing for the event loop.
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0.5:
        raise BadInput(f"{path}: {name} must be a number of seconds ≥ 0.5, not {value!r}")
    return float(value)


def unknown_binding_ids(config: UiConfig, known: set[str]) -> list[str]:
    return sorted(binding_id for binding_id in config.keymap if binding_id not in known)
