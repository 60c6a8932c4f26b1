"""What the key list adds for usage: its columns, sorts and the live refresh with $/min.

Usage is read in the background, after the list is usable and only once something needs it
(a usage column shown, a usage sort, a query on usage), then again every
`refresh_usage_seconds` while the list is on top. A read that fails leaves the last figures on
screen and the console says Redis is lost, as for any other read.
"""

from __future__ import annotations

import gc
import time

from textual import work
from textual.binding import Binding

from keyops.core.api import ConnectionFailed, KeyopsError, KeyRow
from keyops.tui.config import save_usage_columns
from keyops.tui.screens.base import ConsoleScreen, PaletteCommand
from keyops.tui.widgets.key_list_view import USAGE_SORTS, KeyListView, SortColumn


class UsageListScreen(ConsoleScreen):
    """The key list's usage half; the key list screen supplies the view, sorting and filtering."""

    HELP_TITLE = "Key list"
    loaded: bool  # the key list is loaded (set by the key list screen)

    BINDINGS = [
        Binding("c", "pick_columns", "Columns", show=False, id="keys.columns"),
        Binding("dollar_sign", "sort_by_cost", "Top spenders", show=False, id="keys.cost_sort"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._top_after_usage = False  # `$` before usage arrived: the cursor goes to the top then

    # -- what the key list provides ----------------------------------------------------------------

    @property
    def view(self) -> KeyListView:
        raise NotImplementedError

    def query_needs_usage(self) -> bool:
        """Whether the typed filter filters on usage (`cost.today:>5`, `rejected`...)."""
        raise NotImplementedError

    def sort_by(self, column: SortColumn, reverse: bool) -> None:
        raise NotImplementedError

    async def usage_arrived(self) -> None:
        """A usage read landed: sort or filter again as needed, and repaint."""
        raise NotImplementedError

    # -- reading -----------------------------------------------------------------------------------

    def start_usage(self) -> None:
        """Called once the screen is mounted: the columns from the config, the refresh timer."""
        self.view.usage_columns = self.keyops.config.usage_columns
        self.view.usage_cell = self._usage_cell
        self.set_interval(self.keyops.config.refresh_usage_seconds, self.refresh_usage)

    def _usage_cell(self, row: KeyRow, name: str) -> tuple[str, str]:
        data = self.keyops.data
        return data.live.cell(row, name) if data is not None else ("…", "")

    def usage_wanted(self) -> bool:
        data = self.keyops.data
        sorted_on_usage = data is not None and data.sort_column in USAGE_SORTS
        return bool(self.view.usage_columns) or sorted_on_usage or self.query_needs_usage()

    def ensure_usage(self) -> None:
        """Reads usage now if something shows it and it was never read (a no-op otherwise)."""
        data = self.keyops.data
        if data is None or not self.loaded or data.live.loaded or data.live.reading:
            return
        if self.keyops.lost_connection or not self.usage_wanted():
            return
        data.live.reading = True
        self.read_usage()

    def refresh_usage(self) -> None:
        """The live view: every key's usage again, while the list is on top and Redis answers."""
        data = self.keyops.data
        if data is None or not data.live.loaded or data.live.reading:
            return
        if self.keyops.lost_connection or self.app.screen is not self or not self.usage_wanted():
            return
        data.live.reading = True
        self.read_usage()

    @work(exclusive=True, group="usage", exit_on_error=False, description="Reading usage")
    async def read_usage(self) -> None:
        # A read makes 100,000 new figures at once: the collector's full passes, set off by
        # that many new objects, walked them and held the loop 140-180 ms each (bench
        # usage_100k, 30,000 keys). Off for the read, and the figures frozen after it (they
        # hold no cycles; the table they replace is freed by reference counting).
        gc.disable()
        try:
            await self._read_usage()
        finally:
            gc.enable()
            gc.freeze()

    async def _read_usage(self) -> None:
        data = self.data
        first = not data.live.loaded
        try:
            fresh = await data.session.usage(now=self.keyops.clock())
        except KeyopsError as error:
            if first and not isinstance(error, ConnectionFailed):
                self.keyops.report_failure("Reading usage", error, background=True)
            else:
                # The banner says Redis is lost; the last figures stay on screen, and the
                # reconnect reloads the list (and usage with it).
                self.keyops.connection_problem(str(error))
            return
        finally:
            data.live.reading = False
        await data.live.take(fresh, time.monotonic())
        await self.usage_arrived()
        if self._top_after_usage:
            self._top_after_usage = False
            self.view.action_jump(0)

    def usage_after_reload(self) -> None:
        """The whole list was read again (a reconnect, a batch): usage follows if it is shown."""
        data = self.keyops.data
        if data is not None and data.live.loaded and not data.live.reading:
            data.live.reading = True
            self.read_usage()
        else:
            self.ensure_usage()

    # -- actions -----------------------------------------------------------------------------------

    def action_sort_by_cost(self) -> None:
        """Top spenders today first, the cursor on the top one."""
        data = self.keyops.data
        if data is None or not self.loaded:
            return
        self.sort_by(SortColumn.COST_TODAY, False)
        if data.live.loaded:
            self.view.action_jump(0)
        else:
            self._top_after_usage = True
            self.ensure_usage()

    def action_pick_columns(self) -> None:
        from keyops.tui.screens.column_picker import ColumnPickerScreen  # opened rarely

        self.app.push_screen(ColumnPickerScreen(self.view.usage_columns), self.columns_picked)

    def columns_picked(self, columns: tuple[str, ...] | None) -> None:
        if columns is None:
            return
        self.view.usage_columns = columns
        self.view.refresh()
        self.ensure_usage()
        try:
            # Only the file's usage_columns line changes: the next console opens with them.
            save_usage_columns(self.keyops.config, columns)
        except OSError as error:
            self.notify(f"columns changed for now, not saved: {error}", severity="warning")

    def usage_palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand(
                "Usage columns",
                "c · Pick the usage columns (cost, $/min, limit share, verdict...)",
                self.action_pick_columns,
            ),
            PaletteCommand(
                "Top spenders today",
                "$ · Sort by cost today, highest first, cursor on the top one",
                self.action_sort_by_cost,
            ),
        ]
