"""Help for the screen below: what it is for, and every key it answers with its binding id
(the id is what `[keymap]` in ~/.config/keyops/config.toml remaps)."""

from __future__ import annotations

import inspect

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from keyops.tui.screens.base import ConsoleModal


def screen_help(screen: Screen[object]) -> tuple[str, Table]:
    # Docstrings wrap at 100 columns; the help reflows them into paragraphs for any width.
    paragraphs = inspect.cleandoc(getattr(screen, "HELP_TEXT", "") or "").split("\n\n")
    text = "\n\n".join(" ".join(part.split()) for part in paragraphs)
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    table.add_column(style="dim", no_wrap=True)
    seen: set[tuple[str, str]] = set()
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not binding.id:
            continue  # Textual's own (scrolling) keys: not ours to document or remap
        description = binding.description or binding.action
        if (binding.action, key) in seen:
            continue
        seen.add((binding.action, key))
        display = screen.app.get_key_display(binding)
        if display != key and len(key) == 1:
            display = key
        state = "" if active.enabled else " (off: read-only)"
        table.add_row(display, description + state, binding.id or "")
    # Keys that write are off in a read-only session (not among the active ones): still listed.
    mutating: frozenset[str] = getattr(screen, "MUTATING_ACTIONS", frozenset())
    for key, bindings in screen._bindings.key_to_bindings.items():
        for binding in bindings:
            if binding.action.partition("(")[0] not in mutating or not binding.id:
                continue
            if (binding.action, key) in seen:
                continue
            seen.add((binding.action, key))
            description = binding.description or binding.action
            table.add_row(key, description + " (off: read-only)", binding.id)
    return text, table


class HelpScreen(ConsoleModal[None]):
    HELP_TITLE = "Help"
    HELP_TEXT = "Help: esc or q closes."
    BINDINGS = [Binding("escape,q,question_mark,f1", "close", "Close", id="help.close")]

    def __init__(self, below: Screen[object]) -> None:
        super().__init__()
        self.below = below

    def compose(self) -> ComposeResult:
        text, table = screen_help(self.below)
        with Vertical(id="dialog", classes="wide"):
            yield Static(
                Text(f"Help — {getattr(self.below, 'HELP_TITLE', '') or 'keyops'}", style="bold")
            )
            with VerticalScroll():
                yield Static(text, id="help-text")
                yield Static(table, id="help-keys")
            yield Static("esc closes · ctrl+p or : lists every action by name", classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)
