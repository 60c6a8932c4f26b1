"""The key list: every key of the CRS Redis, filtered with the query language as you type.

A first, simple list (a DataTable, fine for thousands of keys); the virtualised 100k-key list
with marks and sorting replaces it in the console issue.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from core.errors import KeyopsError
from core.query import QueryContext, QueryError, compile_query
from core.store.accounts import AccountCatalog, binding_labels
from core.store.key_table import KeyTable
from core.store.rows import KeyRow

if TYPE_CHECKING:
    from tui.app import KeyopsApp

SHOWN_LIMIT = 5000  # the simple table renders at most this many rows


def _date(epoch: float | None) -> str:
    if epoch is None:
        return "never"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")


class KeyListScreen(Screen[None]):
    BINDINGS = [
        Binding("slash", "focus_filter", "Filter", id="keys.filter"),
        Binding("escape", "clear_filter", "Clear filter", id="keys.clear_filter"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.table: KeyTable | None = None
        self.catalog = AccountCatalog()
        self.shown: list[KeyRow] = []

    @property
    def keyops(self) -> KeyopsApp:
        from tui.app import KeyopsApp

        assert isinstance(self.app, KeyopsApp)
        return self.app

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="/ filter: tag:prod status:active bound:claude ...", id="filter")
        yield Static("", id="filter-error")
        yield DataTable(id="keys", cursor_type="row", zebra_stripes=True)
        yield Static("loading keys…", id="status-line")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#keys", DataTable)
        table.add_columns("name", "id", "status", "tags", "bindings", "last used", "created")
        table.focus()
        self.load_keys()

    @work(exclusive=True, group="load")
    async def load_keys(self) -> None:
        try:
            session = await self.keyops.open_session()
            self.table = await session.load_keys()
            self.catalog = await session.load_accounts()
            interrupted = await session.interrupted_operations()
        except KeyopsError as error:
            self.query_one("#status-line", Static).update(f"cannot load keys: {error}")
            return
        for record in interrupted:
            # Recovery screens come with the console issue; until then, say exactly what to run.
            self.notify(
                f"Operation {record.id} ({record.summary}) by {record.operator.label} was "
                f"interrupted. Finish it: keyops ops recover {record.id} --resume; "
                "undo it: --rollback",
                title="Interrupted operation",
                severity="warning",
                timeout=60,
            )
        self.apply_filter(self.query_one("#filter", Input).value)

    def describe_bindings(self, row: KeyRow) -> str:
        return (
            " ".join(f"{name}:{label}" for name, label in binding_labels(row, self.catalog)) or "-"
        )

    def apply_filter(self, text: str) -> None:
        if self.table is None:
            return
        error_line = self.query_one("#filter-error", Static)
        now = self.keyops.clock()
        try:
            query = compile_query(text, QueryContext(catalog=self.catalog, now=now))
        except QueryError as error:
            # A bad query is marked and the list stays as it was.
            # A Text keeps the caret line's leading spaces, which a markup string would lose.
            error_line.update(Text(error.pointer(text) + f"\n{error.reason}"))
            error_line.add_class("visible")
            return
        error_line.remove_class("visible")
        self.shown = sorted(query.filter(self.table.rows), key=lambda row: row.name.casefold())
        widget = self.query_one("#keys", DataTable)
        widget.clear()
        for row in self.shown[:SHOWN_LIMIT]:
            widget.add_row(
                row.name,
                row.id[:8],
                row.status(now).value,
                ",".join(row.tags),
                self.describe_bindings(row),
                _date(row.last_used_at),
                _date(row.created_at),
                key=row.id,
            )
        self.query_one("#status-line", Static).update(
            f"{len(self.shown)} shown of {len(self.table)} keys"
        )

    def on_input_changed(self, event: Input.Changed) -> None:
        self.apply_filter(event.value)

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_clear_filter(self) -> None:
        filter_input = self.query_one("#filter", Input)
        filter_input.value = ""
        self.query_one("#keys", DataTable).focus()
