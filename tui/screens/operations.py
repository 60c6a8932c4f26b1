"""Operations and audit: recent operations (who, when, what, result) and, below, the per-key
before -> after of the highlighted one.

`/` filters: type:tags since:2026-11-01 until:… key:NAME_OR_ID operator:alice op:ID.
`enter` shows the highlighted operation's keys; `x` exports the audit entries the filter
selects to a CSV or JSON file; `r` reverts the highlighted operation (only fields still
holding what it wrote); `R` recovers an interrupted one (finish or roll back). `esc` goes back.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Input, Static

from keyops.core.api import (
    AuditFilter,
    BadInput,
    OperationRecord,
    OpStatus,
    Recovery,
    parse_audit_filter,
)
from keyops.tui.context import BATCHES_FINISHED
from keyops.tui.formatting import short, when
from keyops.tui.screens.base import ConsoleScreen, PaletteCommand, WriteBinding
from keyops.tui.screens.export import ExportScreen
from keyops.tui.screens.recovery import RecoveryScreen
from keyops.tui.shown import printable, shown

OPS_SHOWN = 200
ENTRIES_SHOWN = 500


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
    HELP_TEXT = __doc__ or ""
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
        yield Footer()

    def on_mount(self) -> None:
        ops = self.query_one("#ops", DataTable)
        ops.add_columns("operation", "when", "who", "result", "what")
        self.query_one("#entries", DataTable).add_columns("when", "key", "field", "before", "after")
        ops.focus()
        # A revert run from here (or any batch) adds an operation and changes the one reverted.
        self.watch(self.app, BATCHES_FINISHED, self.reload_after_batch, init=False)
        self.load_ops()

    @property
    def selected(self) -> OperationRecord | None:
        table = self.query_one("#ops", DataTable)
        if not self.records or table.cursor_row < 0 or table.cursor_row >= len(self.records):
            return None
        return self.records[table.cursor_row]

    @work(exclusive=True, group="ops", exit_on_error=False)
    async def load_ops(self) -> None:
        session = self.data.session
        table = self.query_one("#ops", DataTable)
        # Reading operations and recoveries can take a moment: say so. (Not the table's
        # loading overlay: it takes focus from the table, and keys then land in the filter.)
        self.query_one("#entries-title", Static).update(shown("reading operations…", "bold"))
        self.records = await session.recent_ops(OPS_SHOWN, self.filters)
        self.interrupted = {recovery.record.id: recovery for recovery in await session.recoveries()}
        table.clear()
        for record in self.records:
            table.add_row(
                record.id,
                when(record.started_at),
                short(f"{record.operator.os_user}@{record.operator.host}", 20),
                op_result(record, record.id in self.interrupted),
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

    @work(exclusive=True, group="entries", exit_on_error=False)
    async def load_entries(self, record: OperationRecord) -> None:
        table = self.query_one("#entries", DataTable)
        names = self.data.table.by_id
        rows = []
        async for entry in self.data.session.audit_entries(
            AuditFilter(op_id=record.id, key_id=self.filters.key_id)
        ):
            if not entry.key_id:
                continue
            name = names[entry.key_id].name if entry.key_id in names else entry.key_id[:8]
            for field, (before, after) in entry.changes.items():
                if field == "updatedAt":
                    continue
                rows.append(
                    (when(entry.time), short(name, 24), short(field, 30), short(before, 30),
                     short(after, 30))
                )  # fmt: skip
            if len(rows) >= ENTRIES_SHOWN:
                break
        table.clear()
        for row in rows[:ENTRIES_SHOWN]:
            table.add_row(*row)
        counts = record.counts
        title = shown(f"{record.id} · {record.summary} · {record.status.value}", "bold")
        title.append(
            f" · applied {counts.applied}, failed {counts.failed}, skipped {counts.skipped}",
            style="",
        )
        if record.reverts:
            title.append(f" · reverts {record.reverts}", style="")
        if record.message:
            title.append(f"\n{printable(record.message)}", style="")
        if len(rows) >= ENTRIES_SHOWN:
            title.append(f"\nfirst {ENTRIES_SHOWN} changes shown; x exports them all", style="dim")
        self.query_one("#entries-title", Static).update(title)

    # -- filter ----------------------------------------------------------------------------------

    def action_focus_filter(self) -> None:
        self.query_one("#ops-filter", Input).focus()

    @on(Input.Submitted, "#ops-filter")
    def filter_submitted(self, event: Input.Submitted) -> None:
        error = self.query_one("#ops-error", Static)
        try:
            filters = parse_audit_filter(event.value)
        except BadInput as problem:
            error.update(shown(str(problem), "bold red"))
            return
        if filters.key_id:
            # A key can be named as well as given by id.
            named = [row.id for row in self.data.table if row.name == filters.key_id]
            if len(named) == 1:
                filters.key_id = named[0]
        error.update("")
        self.filters = filters
        self.query_one("#ops", DataTable).focus()
        self.load_ops()

    # -- actions ---------------------------------------------------------------------------------

    def action_back(self) -> None:
        if self.focused is self.query_one("#ops-filter", Input):
            self.query_one("#ops", DataTable).focus()
            return
        self.dismiss(None)

    def action_reload(self) -> None:
        self.load_ops()

    def reload_after_batch(self) -> None:
        self.load_ops()

    def action_export(self) -> None:
        self.app.push_screen(ExportScreen(self.filters))

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
                "Write the filtered audit entries to CSV or JSON",
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
