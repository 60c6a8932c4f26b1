"""The key list: every key of the CRS Redis, filtered as you type, marked for batch work.

`/` filters with the query language (tag:prod status:active bound:claude ...), `esc` clears;
`space` marks, `v` marks a range, `*` marks every key shown, `U` clears marks; marks survive
new filters and reloads. `t` edits tags, `a` assigns accounts, `e`/`d` enable or disable the
marked keys (the highlighted one when none is marked), `o` opens operations and audit,
`enter` shows every field of a key except its secret.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Static

from core.errors import KeyopsError
from core.query import QueryError
from core.store.rows import KeyRow
from tui.screens.base import ConsoleScreen, PaletteCommand
from tui.widgets.key_list_view import KeyListView, SortColumn

# Keystrokes closer together than this are filtered once: typing "tag:prod" runs one filter
# over 100k keys, not eight. A single keystroke after a pause filters at once.
FILTER_COALESCE_SECONDS = 0.02


class KeyListScreen(ConsoleScreen):
    HELP_TEXT = __doc__ or ""
    MUTATING_ACTIONS = frozenset({"edit_tags", "assign_accounts", "enable", "disable"})

    BINDINGS = [
        Binding("slash", "focus_filter", "Filter", id="keys.filter"),
        Binding("escape", "escape", "Clear", show=False, id="keys.clear_filter"),
        Binding("t", "edit_tags", "Tags", id="keys.tags"),
        Binding("a", "assign_accounts", "Accounts", id="keys.accounts"),
        Binding("e", "enable", "Enable", id="keys.enable"),
        Binding("d", "disable", "Disable", id="keys.disable"),
        Binding("o", "operations", "Ops/audit", id="keys.operations"),
        Binding("ctrl+r", "reload", "Reload", show=False, id="keys.reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.shown: list[KeyRow] = []
        self.filter_text = ""
        self._filter_timer: Timer | None = None
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="banner")
        yield Input(placeholder="/ filter: tag:prod status:active bound:claude ...", id="filter")
        yield Static("", id="filter-error")
        yield KeyListView(
            self.keyops.selection,
            self.describe_bindings,
            self.keyops.clock,
            id="keys",
        )
        yield Static("loading keys…", id="status-line")
        yield Footer()

    @property
    def view(self) -> KeyListView:
        return self.query_one("#keys", KeyListView)

    def describe_bindings(self, row: KeyRow) -> str:
        data = self.keyops.data
        return data.describe_bindings(row) if data is not None else ""

    def on_mount(self) -> None:
        self.view.focus()
        self.update_banner()
        self.load_keys()

    # -- loading ---------------------------------------------------------------------------------

    @work(exclusive=True, group="load", exit_on_error=False)
    async def load_keys(self) -> None:
        self.query_one("#status-line", Static).update("loading keys…")
        try:
            data = await self.keyops.open_data()
            await data.load(self.keyops.clock())
        except KeyopsError as error:
            self.query_one("#status-line", Static).update(f"cannot load keys: {error}")
            self.keyops.connection_problem(str(error))
            return
        self.loaded = True
        self.run_filter()
        if not self.keyops.recovery_offered:
            self.keyops.recovery_offered = True
            self.keyops.offer_recovery()

    def reload_after_batch(self) -> None:
        self.load_keys()

    # -- filtering -------------------------------------------------------------------------------

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(FILTER_COALESCE_SECONDS, self.run_filter)

    @on(Input.Submitted, "#filter")
    def filter_submitted(self) -> None:
        self.view.focus()

    def run_filter(self) -> None:
        data = self.keyops.data
        if data is None or not self.loaded:
            return
        text = self.filter_text
        error_line = self.query_one("#filter-error", Static)
        try:
            query = data.compile(text, self.keyops.clock())
        except QueryError as error:
            # A bad query is marked and the list stays as it was.
            error_line.update(Text(error.pointer(text) + f"\n{error.reason}"))
            error_line.add_class("visible")
            return
        error_line.remove_class("visible")
        self.shown = query.filter(data.sorted_rows)
        self.view.show_rows(self.shown)
        self.update_status()

    def update_status(self) -> None:
        data = self.keyops.data
        if data is None:
            return
        marked = len(data.selection)
        view = self.view
        arrow = "▼" if data.sort_reverse else "▲"
        parts = [
            f"{marked} marked · {len(self.shown)} shown of {len(data.table)} keys",
            f"sort: {data.sort_column.value} {arrow}",
        ]
        if data.selection.anchor is not None:
            parts.append("range: move, then v (or space) marks it, esc cancels")
        if self.keyops.read_only:
            parts.append("READ-ONLY")
        del view
        self.query_one("#status-line", Static).update(" · ".join(parts))

    def update_banner(self) -> None:
        banner = self.query_one("#banner", Static)
        problem = self.keyops.lost_connection
        if problem:
            banner.update(f"Redis connection lost: {problem} · retrying every 5 s; marks are kept")
            banner.set_class(True, "visible", "lost")
        elif self.keyops.read_only:
            banner.update("READ-ONLY session: tags, accounts, status, revert and recover are off")
            banner.set_class(True, "visible")
            banner.set_class(False, "lost")
        else:
            banner.update("")
            banner.set_class(False, "visible", "lost")

    # -- list events -----------------------------------------------------------------------------

    @on(KeyListView.MarksChanged)
    def marks_changed(self) -> None:
        self.update_status()

    @on(KeyListView.SortChanged)
    def sort_changed(self, event: KeyListView.SortChanged) -> None:
        self.sort_by(event.column, event.reverse)

    def sort_by(self, column: SortColumn, reverse: bool) -> None:
        data = self.keyops.data
        if data is None:
            return
        data.sort_column, data.sort_reverse = column, reverse
        self.view.sort_column, self.view.sort_reverse = column, reverse
        data.resort(self.keyops.clock())
        self.run_filter()

    @on(KeyListView.DetailRequested)
    def show_detail(self, event: KeyListView.DetailRequested) -> None:
        from tui.screens.key_detail import KeyDetailScreen

        self.app.push_screen(KeyDetailScreen(event.row))

    # -- actions ---------------------------------------------------------------------------------

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_escape(self) -> None:
        if self.view.cancel_range():
            self.update_status()
            return
        filter_input = self.query_one("#filter", Input)
        filter_input.value = ""
        self.view.focus()

    def target_ids(self) -> list[str]:
        """The marked keys, or the highlighted one when nothing is marked."""
        data = self.data
        if data.selection.marked:
            return data.marked_ids()
        row = self.view.highlighted
        return [row.id] if row is not None else []

    def action_edit_tags(self) -> None:
        ids = self.target_ids()
        if ids:
            from tui.screens.tag_editor import TagEditorScreen

            self.app.push_screen(TagEditorScreen(ids))

    def action_assign_accounts(self) -> None:
        ids = self.target_ids()
        if ids:
            from tui.screens.account_assign import AccountAssignScreen

            self.app.push_screen(AccountAssignScreen(ids))

    def action_enable(self) -> None:
        self._status(enable=True)

    def action_disable(self) -> None:
        self._status(enable=False)

    def _status(self, *, enable: bool) -> None:
        ids = self.target_ids()
        if ids:
            from tui.screens.status_change import StatusChangeScreen

            self.app.push_screen(StatusChangeScreen(ids, enable=enable))

    def action_operations(self) -> None:
        from tui.screens.operations import OperationsScreen

        self.app.push_screen(OperationsScreen())

    def action_reload(self) -> None:
        self.load_keys()

    def palette_commands(self) -> list[PaletteCommand]:
        view = self.view
        commands = [
            PaletteCommand(
                "Filter keys", "Focus the filter (query language)", self.action_focus_filter
            ),
            PaletteCommand("Mark key", "Mark or unmark the highlighted key", view.action_mark),
            PaletteCommand("Mark range", "Start or finish a range of marks", view.action_range),
            PaletteCommand(
                "Mark all shown", "Mark every key the filter shows", view.action_mark_shown
            ),
            PaletteCommand("Clear marks", "Unmark every key", view.action_clear_marks),
            PaletteCommand("Key details", "Every field of the highlighted key", view.action_detail),
            PaletteCommand(
                "Edit tags", "Add or remove tags on the marked keys", self.action_edit_tags, True
            ),
            PaletteCommand(
                "Assign accounts",
                "Bind the marked keys to accounts or groups",
                self.action_assign_accounts,
                True,
            ),
            PaletteCommand("Enable keys", "Enable the marked keys", self.action_enable, True),
            PaletteCommand("Disable keys", "Disable the marked keys", self.action_disable, True),
            PaletteCommand(
                "Operations and audit",
                "Recent operations, audit trail, revert, export",
                self.action_operations,
            ),
            PaletteCommand(
                "Reload keys", "Read every key again (marks are kept)", self.action_reload
            ),
        ]
        for column in SortColumn:
            commands.append(
                PaletteCommand(
                    f"Sort by {column.value}",
                    "Sort the list (again to reverse)",
                    lambda column=column: self.sort_by(  # type: ignore[misc]
                        column,
                        not self.data.sort_reverse if self.data.sort_column is column else False,
                    ),
                )
            )
        return commands
