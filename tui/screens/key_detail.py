"""One key now: whether CRS would accept its next request and why not (in CRS's words), its
usage today, each of its limits as a bar (used / limit, percent), its use today per model, and
every field as Redis holds it, except the secret (keyops never reads it). Read again as often as
the list re-reads the keys on screen, so a change made elsewhere shows here.

`esc` or `q` closes.
"""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from keyops.core.api import BindingField, KeyopsError, KeyRow, UsageBreakdown
from keyops.tui.screens.base import ConsoleModal
from keyops.tui.shown import printable, shown
from keyops.tui.usage_panel import usage_panel


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, default=str) if value else "—"
    if hasattr(value, "isoformat"):
        return str(value.isoformat()).replace("+00:00", "Z")
    return str(value)


class KeyDetailScreen(ConsoleModal[None]):
    HELP_TITLE = "Key details"
    HELP_TEXT = __doc__ or ""
    BINDINGS = [Binding("escape,q", "close", "Close", id="detail.close")]

    def __init__(self, row: KeyRow) -> None:
        super().__init__()
        self.row = row

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            title = Text()
            title.append(printable(self.row.name), style="bold")
            title.append(printable(f"  {self.row.id}"))
            yield Static(title, id="title")
            with VerticalScroll():
                yield Static("reading usage…", id="usage")
                yield Static("reading…", id="fields")
            yield Static("esc closes · the secret (apiKey) is never shown", classes="hint")

    def on_mount(self) -> None:
        self._reading: set[str] = set()  # the reads on their way ("record", "usage")
        self._failing: set[str] = set()  # the reads whose last try failed (said once)
        self._breakdown: UsageBreakdown | None = None
        self._breakdown_of: tuple[object, ...] = ()  # the day's figures it was read with
        self.load_record()
        self.load_usage()
        # Read again as the list re-reads the rows on screen: another operator's disable, a
        # limit reached, a delete show here without closing the detail.
        self.set_interval(self.keyops.config.refresh_rows_seconds, self.read_again)

    def read_again(self) -> None:
        if self.keyops.lost_connection:
            return  # the banner says so; the reconnect's reload follows
        # A read still on its way is left to finish (a slow Redis is never read at all if
        # each tick replaced the read before).
        if "record" not in self._reading:
            self.load_record()
        if "usage" not in self._reading:
            self.load_usage()

    @work(exclusive=True, group="usage", exit_on_error=False)
    async def load_usage(self) -> None:
        self._reading.add("usage")
        try:
            await self._load_usage()
        finally:
            self._reading.discard("usage")

    async def _load_usage(self) -> None:
        panel = self.query_one("#usage", Static)
        session, key_id = self.data.session, self.row.id
        now = self.keyops.clock()
        try:
            table = await session.usage([key_id], now=now)
            usage = table.get(key_id)
            # The per-model lines change only with the day's figures: read again only then
            # (without CRS's day index they come from a SCAN of the whole keyspace).
            figures = (table.today, usage.requests, usage.tokens, usage.cost_today)
            breakdown = self._breakdown
            if breakdown is None or figures != self._breakdown_of:
                breakdown = await session.usage_breakdown(key_id, now=now)
                self._breakdown, self._breakdown_of = breakdown, figures
        except KeyopsError as error:
            panel.update(shown(f"cannot read usage: {error}", "bold red"))
            self._report_once("usage", "Reading the key's usage", error)
            return
        self._failing.discard("usage")
        rate = self.data.live.rates.get(key_id, 0.0)
        panel.update(
            usage_panel(usage, breakdown, now=now, offset=session.timezone_offset, rate=rate)
        )

    @work(exclusive=True, exit_on_error=False)
    async def load_record(self) -> None:
        self._reading.add("record")
        try:
            await self._load_record()
        finally:
            self._reading.discard("record")

    async def _load_record(self) -> None:
        fields = self.query_one("#fields", Static)
        try:
            record = await self.data.session.record(self.row.id)
        except KeyopsError as error:
            fields.update(shown(f"cannot read this key: {error}", "bold red"))
            self._report_once("record", "Reading the key", error)
            return
        self._failing.discard("record")
        if record is None:
            fields.update("This key is gone from Redis.")
            return
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        values = record.model_dump(exclude={"bindings_raw", "other_fields"})
        # Cells are Text, never markup strings: a stored `[/b]` is shown, not obeyed.
        for name, value in values.items():
            table.add_row(name, shown(_shown(value)))
        for binding_field in BindingField:
            raw = record.bindings_raw.get(binding_field, "")
            described = self.data.describe_binding(binding_field, raw) if raw else "—"
            table.add_row(binding_field.value, shown(described))
        for name, value in sorted(record.other_fields.items()):
            table.add_row(shown(name), shown(_shown(value)))
        fields.update(table)

    def _report_once(self, read: str, doing: str, error: KeyopsError) -> None:
        """A failure is reported when a read starts failing, not again on every re-read."""
        if read not in self._failing:
            self._failing.add(read)
            self.keyops.report_failure(doing, error, background=True)

    def action_close(self) -> None:
        self.dismiss(None)
