"""Which usage columns the key list shows: tick them, `ctrl+s` keeps the choice (saved in the
config file, so the next console opens with it), `esc` leaves the columns as they were.

Three columns fit beside name, status, tags and bindings at 80 columns; with more, the id and
the dates give way first.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Checkbox, Static

from keyops.tui.config import USAGE_COLUMNS
from keyops.tui.screens.base import ConsoleModal
from keyops.tui.usage_columns import USAGE_COLUMN_SPECS
from keyops.tui.widgets.tick_box import TickBox


class ColumnPickerScreen(ConsoleModal[tuple[str, ...] | None]):
    HELP_TITLE = "Usage columns"
    HELP_TEXT = __doc__ or ""
    BINDINGS = [
        Binding("ctrl+s", "apply", "Apply", id="columns.apply"),
        Binding("escape", "close", "Cancel", id="columns.close"),
        Binding("down,j", "app.focus_next", "Next", show=False, id="columns.next"),
        Binding("up,k", "app.focus_previous", "Previous", show=False, id="columns.previous"),
    ]

    def __init__(self, shown: tuple[str, ...]) -> None:
        super().__init__()
        self.shown = shown

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("Usage columns on the key list", id="title")
            with Vertical(id="column-options"):
                for name in USAGE_COLUMNS:
                    spec = USAGE_COLUMN_SPECS[name]
                    yield TickBox(
                        f"{spec.title:<9} {spec.about}",
                        name in self.shown,
                        id=f"column-{name.replace('.', '-')}",
                        name=name,
                    )
            yield Static("", id="column-count")
            yield Static(
                "space ticks · ctrl+s keeps (saved for next time) · esc cancels", classes="hint"
            )

    def on_mount(self) -> None:
        self.query(TickBox).first().focus()
        self.show_count()

    def chosen(self) -> tuple[str, ...]:
        return tuple(box.name or "" for box in self.query(TickBox) if box.value)

    @on(Checkbox.Changed)
    def show_count(self) -> None:
        count = len(self.chosen())
        note = " (the id and dates give way at 80 columns)" if count > 3 else ""
        self.query_one("#column-count", Static).update(f"{count} shown{note}")

    def action_apply(self) -> None:
        self.dismiss(self.chosen())

    def action_close(self) -> None:
        self.dismiss(None)
