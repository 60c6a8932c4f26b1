"""The console's own settings, from ~/.config/keyops/config.toml (or $XDG_CONFIG_HOME).

    theme = "ansi-dark"            # any Textual theme; ansi-dark uses the terminal's palette
    confirm_typed_above = 500      # batches larger than this are confirmed by typing the count
    refresh_rows_seconds = 2       # how often the keys on screen are read again
    refresh_list_seconds = 30      # how often the whole list is (sooner when an operation ends)
    refresh_usage_seconds = 10     # how often usage (cost, limits, $/min) is read again
    usage_columns = ["cost.today", "limit", "rate"]   # the key list's usage columns (`c` picks)

    [keymap]                       # binding id = keys (comma-separated), see `?` in the console
    "keys.mark" = "x"
    "app.palette" = "ctrl+p,colon"

A bad file stops the console at start with one line saying what is wrong; nothing is guessed.
The column picker (`c` on the key list) writes `usage_columns` back into the file, leaving
every other line as it was.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from keyops.core.api import TYPED_CONFIRM_ABOVE, BadInput

DEFAULT_TYPED_CONFIRM = TYPED_CONFIRM_ABOVE
DEFAULT_THEME = "textual-dark"
KNOWN_KEYS = {
    "theme",
    "confirm_typed_above",
    "refresh_rows_seconds",
    "refresh_list_seconds",
    "refresh_usage_seconds",
    "usage_columns",
    "keymap",
}
REFRESH_ROWS_SECONDS = 2.0
REFRESH_LIST_SECONDS = 30.0
# A full usage read of 100,000 keys takes about a second of Redis and Python work: every 10 s
# keeps $/min current without the refresh becoming most of what the console does.
REFRESH_USAGE_SECONDS = 10.0
# The usage columns the key list can show, in the order the picker lists them; the default
# fits 80 columns beside name, status, tags and bindings.
USAGE_COLUMNS = (
    "requests.today",
    "cost.today",
    "cost.week",
    "cost.total",
    "concurrency",
    "limit",
    "verdict",
    "rate",
)
DEFAULT_USAGE_COLUMNS = ("cost.today", "limit", "rate")


@dataclass(frozen=True, slots=True)
class UiConfig:
    theme: str = DEFAULT_THEME
    confirm_typed_above: int = DEFAULT_TYPED_CONFIRM
    keymap: dict[str, str] = field(default_factory=dict)
    refresh_rows_seconds: float = REFRESH_ROWS_SECONDS
    refresh_list_seconds: float = REFRESH_LIST_SECONDS
    refresh_usage_seconds: float = REFRESH_USAGE_SECONDS
    usage_columns: tuple[str, ...] = DEFAULT_USAGE_COLUMNS
    # Where the settings came from and the picker saves to; None: not saved (tests, a demo
    # made in code). Not part of what two configs compare on.
    path: Path | None = field(default=None, compare=False)


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "keyops" / "config.toml"


def load_config(path: Path | None = None) -> UiConfig:
    path = path or config_path()
    if not path.exists():
        return UiConfig(path=path)
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
    usage_seconds = _seconds(raw, "refresh_usage_seconds", REFRESH_USAGE_SECONDS, path)
    return UiConfig(
        theme=theme,
        confirm_typed_above=threshold,
        keymap=dict(keymap),
        refresh_rows_seconds=rows_seconds,
        refresh_list_seconds=list_seconds,
        refresh_usage_seconds=usage_seconds,
        usage_columns=_usage_columns(raw, path),
        path=path,
    )


def _usage_columns(raw: dict[str, object], path: Path) -> tuple[str, ...]:
    value = raw.get("usage_columns", list(DEFAULT_USAGE_COLUMNS))
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise BadInput(f'{path}: usage_columns is a list of names, e.g. ["cost.today", "limit"]')
    unknown = [name for name in value if name not in USAGE_COLUMNS]
    if unknown:
        raise BadInput(
            f"{path}: unknown usage column(s) {', '.join(unknown)}; known: "
            + ", ".join(USAGE_COLUMNS)
        )
    return tuple(dict.fromkeys(value))  # a name given twice is shown once


def _seconds(raw: dict[str, object], name: str, default: float, path: Path) -> float:
    value = raw.get(name, default)
    # Under half a second the refresh would compete with typing for the event loop.
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0.5:
        raise BadInput(f"{path}: {name} must be a number of seconds ≥ 0.5, not {value!r}")
    return float(value)


def unknown_binding_ids(config: UiConfig, known: set[str]) -> list[str]:
    return sorted(binding_id for binding_id in config.keymap if binding_id not in known)


def save_usage_columns(config: UiConfig, columns: tuple[str, ...]) -> UiConfig:
    """The config with these usage columns, written to its file when it has one: the
    `usage_columns` line is replaced (or added above the first table), the rest kept as is."""
    updated = replace(config, usage_columns=columns)
    if config.path is None:
        return updated
    line = "usage_columns = [" + ", ".join(f'"{name}"' for name in columns) + "]"
    path = config.path
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    first_table = next(
        (index for index, text in enumerate(lines) if text.lstrip().startswith("[")), len(lines)
    )
    found = [
        index for index, text in enumerate(lines[:first_table])
        if text.split("=", 1)[0].strip() == "usage_columns"
    ]  # fmt: skip
    if found:
        lines[found[0]] = line
    else:
        lines.insert(first_table, line)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(temporary, path)  # a crash mid-write never leaves half a config
    return updated
