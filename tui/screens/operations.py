"""Operations and audit: recent operations (who, when, result, what) and, below, the
keys the highlighted one changed: one audit entry per key, one row per changed field, and
under them the highlighted row's before and after in full.

`/` filters as you type: type:disable (the first word of "what", or tags, accounts, status,
revert) since:2026-11-01 until:… key:NAME_OR_ID operator:alice op:ID; a filter with a mistake
lists nothing. `enter` opens the highlighted operation's keys (esc comes back); `x` exports the
highlighted operation's audit entries (or everything the filter selects) to a CSV or JSON
file; `r` reverts the highlighted operation (only fields still holding what it wrote); `R`
recovers an interrupted one (finish or roll back). `esc` goes back.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets import DataTable, Header, Input, Static

from keyops.core.api import (
    AuditFilter,
    BadInput,
    KeyopsError,
    OperationRecord,
    OpStatus,
    Recovery,
    parse_audit_filter,
)
from keyops.tui.context import BATCHES_FINISHED, CONNECTION_LOST
from keyops.tui.formatting import short, when
from keyops.tui.screens.base import ConsoleScreen, PaletteCommand, WriteBinding
from keyops.tui.screens.export import ExportScreen
from keyops.tui.screens.recovery import RecoveryScreen
from keyops.tui.shown import printable, shown
from keyops.tui.widgets.footer import ConsoleFooter

OPS_SHOWN = 200
ENTRIES_SHOWN = 500
FILTER_DELAY_SECONDS = 0.2  # reading the operations again on every keystroke would be wasted


def op_result(record: OperationRecord, interrupted: bool) -> str:
    counts = record.counts
    if interrupted:
        return "INTERRUPTED"
    text = record.status.value
    if counts.applied or counts.failed:
        text += f" {counts.applied}✓"
        if counts.failed:
            text += f" {counts.failed}✗"
    return text


class OperationsScreen(ConsoleScreen):
    HELP_TITLE = "Operations and audit"
    HELP_TEXT = __doc__ or ""
    OFFERS_OPERATIONS = True
    BINDINGS = [
        Binding("slash", "focus_filter", "Filter", id="ops.filter"),
        Binding("x", "export", "Export", id="ops.export"),
        WriteBinding("r", "revert", "Revert", id="ops.revert"),
        WriteBinding("R", "recover", "Recover", id="ops.recover"),
        Binding("escape", "back", "Back", id="ops.back"),
        Binding("ctrl+r", "reload", "Reload", show=False, id="ops.reload"),
    ]

    def __init__(self, focus_op: str = "") -> None:
        super().__init__()
        self.filters = AuditFilter()
        self.records: list[OperationRecord] = []
        self.interrupted: dict[str, Recovery] = {}
        self.focus_op = focus_op
        self.entry_rows: list[tuple[str, str, str | None, str | None]] = []
        self._filter_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(
            placeholder="/ filter: type:tags since:2026-11-01 key:NAME operator:alice",
            id="ops-filter",
        )
        yield Static("", id="ops-error")
        yield DataTable(id="ops", cursor_type="row", zebra_stripes=True)
        yield Static("", id="entries-title")
        yield DataTable(id="entries", cursor_type="row")
        yield Static("", id="entry-detail")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        ops = self.query_one("#ops", DataTable)
        ops.add_columns("operation", "when", "who", "result", "what")
        self.query_one("#entries", DataTable).add_columns("when", "key", "field", "before", "after")
        ops.focus()
        self.watch(self.app, CONNECTION_LOST, self.connection_changed, init=False)
        # A revert run from here (or any batch) adds an operation and changes the one reverted.
        self.watch(self.app, BATCHES_FINISHED, self.reload_after_batch, init=False)
        self.load_ops()

    def connection_changed(self, was_lost: str, lost: str) -> None:
        if was_lost and not lost:
            self.load_ops()  # Redis is back: what this screen could not read

    @property
    def selected(self) -> OperationRecord | None:
        table = self.query_one("#ops", DataTable)
        if not self.records or table.cursor_row < 0 or table.cursor_row >= len(self.records):
            return None
        return self.records[table.cursor_row]

    @work(exclusive=True, group="ops", exit_on_error=False, description="Loading the operations")
    async def load_ops(self) -> None:
        session = self.data.session
        table = self.query_one("#ops", DataTable)
        # Reading operations and recoveries can take a moment: say so. (Not the table's
        # loading overlay: it takes focus from the table, and keys then land in the filter.)
        self.query_one("#entries-title", Static).update(shown("reading operations…", "bold"))
        try:
            self.records = await session.recent_ops(OPS_SHOWN, self.filters)
            recoveries = await session.recoveries()
        except KeyopsError as error:
            # What the table shows stays, marked as not current; ctrl+r or Redis's return reloads.
            self.query_one("#ops-error", Static).update(
                shown(f"cannot read the operations: {error}", "bold red")
            )
            self.keyops.report_failure("Loading the operations", error, background=True)
            return
        self.query_one("#ops-error", Static).update("")
        self.interrupted = {recovery.record.id: recovery for recovery in recoveries}
        table.clear()
        for record in self.records:
            table.add_row(
                record.id,
                when(record.started_at),
                short(f"{record.operator.os_user}@{record.operator.host}", 20),
                op_result(record, record.id in self.interrupted),
                # Starts with the word type: filters by (disable, tags, move, revert…).
                short(record.summary, 40),
                key=record.id,
            )
        if not self.records:
            self.query_one("#entries-title", Static).update("no operations match")
            self.query_one("#entries", DataTable).clear()
            return
        index = next((i for i, r in enumerate(self.records) if r.id == self.focus_op), 0)
        table.move_cursor(row=index)
        self.load_entries(self.records[index])

    @on(DataTable.RowHighlighted, "#ops")
    def op_highlighted(self, event: DataTable.RowHighlighted) -> None:
        record = self.selected
        if record is not None:
            self.load_entries(record)

    @work(exclusive=True, group="entries", exit_on_error=False,
          description="Reading the operation's audit entries")  # fmt: skip
    async def load_entries(self, record: OperationRecord) -> None:
        table = self.query_one("#entries", DataTable)
        names = self.data.table.by_id
        rows = []
        full: list[tuple[str, str, str | None, str | None]] = []
        entries = 0
        async for entry in self.data.session.audit_entries(
            AuditFilter(op_id=record.id, key_id=self.filters.key_id)
        ):
            if not entry.key_id:
                continue
            entries += 1
            name = names[entry.key_id].name if entry.key_id in names else entry.key_id[:8]
            for field, (before, after) in entry.changes.items():
                if field == "updatedAt":
                    continue
                full.append((f"{name} ({entry.key_id[:8]})", field, before, after))
                rows.append(
                    (when(entry.time), short(name, 24), short(field, 30), short(before, 30),
                     short(after, 30))
                )  # fmt: skip
            if len(rows) >= ENTRIES_SHOWN:
                break
        table.clear()
        for row in rows[:ENTRIES_SHOWN]:
            table.add_row(*row)
        self.entry_rows = full[:ENTRIES_SHOWN]
        self.show_entry_detail()
        counts = record.counts
        title = shown(f"{record.id} · {record.summary} · {record.status.value}", "bold")
        # Keys are counted as audit entries (one per key) and rows (one per changed field),
        # the same words the export uses.
        title.append(
            f" · applied {counts.applied}, failed {counts.failed}, skipped {counts.skipped}"
            f" · {entries} entries, {min(len(rows), ENTRIES_SHOWN)} rows",
            style="",
        )
        if record.reverts:
            title.append(f" · reverts {record.reverts}", style="")
        if record.message:
            title.append(f"\n{printable(record.message)}", style="")
        if len(rows) >= ENTRIES_SHOWN:
            title.append(f"\nfirst {ENTRIES_SHOWN} rows shown; x exports them all", style="dim")
        self.query_one("#entries-title", Static).update(title)

    @on(DataTable.RowHighlighted, "#entries")
    def show_entry_detail(self) -> None:
        """The highlighted row's values uncut: the table cuts them to fit 80 columns, and the
        after value is what an operator came to read."""
        detail = self.query_one("#entry-detail", Static)
        row = self.query_one("#entries", DataTable).cursor_row
        if not self.entry_rows or not 0 <= row < len(self.entry_rows):
            detail.update("")
            return
        key, field, before, after = self.entry_rows[row]
        text = shown(f"{key} · {field}", "bold")
        text.append(f"\nbefore: {short(before, 10_000)}\nafter:  {short(after, 10_000)}", style="")
        detail.update(text)

    @on(DataTable.RowSelected, "#ops")
    def open_keys(self) -> None:
        """enter on an operation: into its keys (esc comes back)."""
        entries = self.query_one("#entries", DataTable)
        if entries.row_count:
            entries.focus()

    # -- filter ----------------------------------------------------------------------------------

    def action_focus_filter(self) -> None:
        self.query_one("#ops-filter", Input).focus()

    @on(Input.Changed, "#ops-filter")
    def filter_changed(self) -> None:
        """Filters as the key list does, while typing (after a short pause)."""
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(FILTER_DELAY_SECONDS, self.apply_filter)

    @on(Input.Submitted, "#ops-filter")
    def filter_submitted(self) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        if self.apply_filter():
            self.query_one("#ops", DataTable).focus()

    def apply_filter(self) -> bool:
        """Filters the list by what the box holds; False (and nothing listed, so nothing to
        revert or export by mistake) when the filter has a mistake."""
        error = self.query_one("#ops-error", Static)
        try:
            filters = parse_audit_filter(self.query_one("#ops-filter", Input).value)
        except BadInput as problem:
            error.update(shown(str(problem), "bold red"))
            self.records = []
            self.query_one("#ops", DataTable).clear()
            self.query_one("#entries", DataTable).clear()
            self.entry_rows = []
            self.show_entry_detail()
            self.query_one("#entries-title", Static).update("fix the filter to list operations")
            return False
        if filters.key_id:
            # A key can be named as well as given by id.
            named = [row.id for row in self.data.table if row.name == filters.key_id]
            if len(named) == 1:
                filters.key_id = named[0]
        error.update("")
        self.filters = filters
        self.load_ops()
        return True

    # -- actions ---------------------------------------------------------------------------------

    def action_back(self) -> None:
        if self.focused in (self.query_one("#ops-filter", Input), self.query_one("#entries")):
            self.query_one("#ops", DataTable).focus()
            return
        self.dismiss(None)

    def action_reload(self) -> None:
        self.load_ops()

    def reload_after_batch(self) -> None:
        self.load_ops()

    def action_export(self) -> None:
        self.app.push_screen(ExportScreen(self.filters, self.selected))

    def action_revert(self) -> None:
        record = self.selected
        if record is None:
            return
        if record.status is OpStatus.RUNNING:
            self.notify(
                "this operation is running or interrupted: R recovers it", severity="warning"
            )
            return
        self.plan_revert(record)

    @work(exclusive=True, group="revert", exit_on_error=False)
    async def plan_revert(self, record: OperationRecord) -> None:
        """Reads every key the operation wrote (seconds at 49,000 keys): says it is working."""
        title = self.query_one("#entries-title", Static)
        working = f"planning revert of {record.counts.applied:,} keys ({record.id})…"
        title.update(shown(working, "bold"))
        self.notify(working, title="Revert")
        try:
            plan = await self.data.session.plan_revert(record.id)
        except KeyopsError as error:
            self.keyops.report_failure(f"Planning the revert of {record.id}", error)
            return
        finally:
            self.load_entries(record)  # puts the operation's title back
        self.keyops.run_plan(plan)

    def action_recover(self) -> None:
        record = self.selected
        if record is None:
            return
        if record.id not in self.interrupted:
            self.notify(
                f"{record.id} is not interrupted ({record.status.value})", severity="warning"
            )
            return
        self.app.push_screen(RecoveryScreen(self.interrupted[record.id]))

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand(
                "Filter operations",
                "type: since: until: key: operator: op:",
                self.action_focus_filter,
            ),
            PaletteCommand(
                "Export audit",
                "Write the highlighted operation's audit entries (or all filtered) to CSV or JSON",
                self.action_export,
            ),
            PaletteCommand(
                "Revert operation",
                "Undo the highlighted finished operation",
                self.action_revert,
            ),
            PaletteCommand(
                "Recover operation",
                "Finish or roll back an interrupted operation",
                self.action_recover,
            ),
            PaletteCommand("Reload operations", "Read the operations again", self.action_reload),
            PaletteCommand("Back to keys", "Close this screen", self.action_back),
        ]
