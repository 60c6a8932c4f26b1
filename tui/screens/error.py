"""An error that must not vanish like a toast: it stays until the operator closes it."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from keyops.tui.screens.base import ConsoleModal
from keyops.tui.shown import shown


class ErrorScreen(ConsoleModal[None]):
    HELP_TITLE = "Error"
    HELP_TEXT = "An error keyops could not handle on its own. Enter or esc closes."
    BINDINGS = [Binding("escape,enter", "close", "Close", id="error.close")]

    def __init__(self, message: str, title: str = "Error") -> None:
        super().__init__()
        self.message = message
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="error"):
            yield Static(Text(self.title_text, style="bold"))
            yield Static(Text("\n").join(shown(line) for line in self.message.split("\n")),
                         id="error-message")  # fmt: skip
            yield Static("enter or esc closes", classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)
