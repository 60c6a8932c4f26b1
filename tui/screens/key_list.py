"""The key list: every key of the CRS Redis, filtered as you type, marked for batch work.

`/` filters with the query language (tag:prod status:active bound:claude ...), `esc` clears;
`space` marks, `v` marks a range, `*` marks every key shown, `U` clears marks; marks survive
new filters and reloads. `t` edits tags, `a` assigns accounts, `m` moves every key bound to
an account of the marked keys to another account, `e`/`d` enable or disable the
marked keys (the highlighted one when none is marked), `f` edits their fields (limits,
permissions, service rates, expiry), `x` deletes them (you type `delete`), `u` undoes this
console's last operation (a revert: its preview first, then the confirm), `o` opens
operations and audit, `enter` shows every field of a key except its secret, its use today per
model, its limits as bars, and whether CRS would accept it now.

`D` shows the soft-deleted keys (the filter status:deleted; `D` again goes back): there `r`
restores the marked keys (you type `restore`) and `P` purges them for good (you type their
count).

Usage: the columns after the status show what CRS counted (default: cost today, $/min and the
highest share of any limit); `c` picks them (requests, cost today/this week/in all,
concurrency, limit share, verdict, $/min; saved in the config). `$` sorts by cost today,
highest first, with the cursor on the top spender; `s` also steps through the usage columns
shown. Usage is read in the background once the list is up and again every 10 s
(`refresh_usage_seconds`): "$/min" is what a key spent per minute since the read before, and
a key whose cost rose is drawn in red with a ▲. Queries filter on usage too:
`cost.today:>5`, `limit:>90%`, `rejected`, `rejected:daily-cost`.

The "bound to" column lists the upstream accounts and groups a key is bound to, one per
platform (console:my-account, claude:group:my-group); "-" means none: CRS serves the key from
the shared pool of that platform's accounts.

Soft-deleted keys are hidden from the list and from batches: the status line counts them, and a
filter naming status:deleted lists them.

The list shows exactly what a mark or an action works on: a filter that does not parse shows
no keys at all, and marking and every action are refused (with a note saying why) until the
query is fixed or cleared. The status line says when the data was read ("as of 03:00:10 UTC ·
4 s ago"): the keys on screen are read again every 2 s and the whole list every 30 s, or as
soon as keys are created or an operation starts or ends (here or in another console); marks
and the cursor stay on their keys.
"""

from __future__ import annotations

import asyncio
import time

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets import Header, Input, Static

from keyops.core.api import CLOCK, KeyopsError, KeyQuery, KeyRow, QueryError, utc_text
from keyops.tui.context import BATCHES_FINISHED, CONNECTION_LOST, RECONNECT_EVERY
from keyops.tui.screens.base import PaletteCommand, WriteBinding
from keyops.tui.screens.usage_list import UsageListScreen
from keyops.tui.shown import printable, shown
from keyops.tui.widgets.footer import ConsoleFooter
from keyops.tui.widgets.key_list_view import USAGE_SORTS, KeyListView, SortColumn

# Rows filtered per event-loop turn: about 4 ms of work (idle machine), so a keystroke
# arriving mid-scan waits at most that long, and its own first slice paints that soon.
FILTER_SLICE = 10_000


class FilterScan:
    """One filter over a list of rows, done a slice at a time; `found` grows in place."""

    def __init__(self, query: KeyQuery, source: list[KeyRow]) -> None:
        self.query = query
        self.source = source
        self.position = 0
        self.found: list[KeyRow] = []

    @property
    def complete(self) -> bool:
        return self.position >= len(self.source)

    def step(self, count: int) -> None:
        end = min(self.position + count, len(self.source))
        self.found.extend(self.query.filter(self.source[self.position : end]))
        self.position = end


# The deleted-keys view is the key list under this filter.
DELETED_QUERY = "status:deleted"

# A keystroke after a pause filters at once; keystrokes that follow closer than this are
# filtered once, when they stop (a fast typist or a paste does not queue a filter per key).
FILTER_COALESCE_SECONDS = 0.05


class KeyListScreen(UsageListScreen):
    HELP_TITLE = "Key list"
    HELP_TEXT = __doc__ or ""
    OFFERS_OPERATIONS = True

    BINDINGS = [
        Binding("slash", "focus_filter", "Filter", id="keys.filter"),
        Binding("escape", "escape", "Clear", show=False, id="keys.clear_filter"),
        WriteBinding("t", "edit_tags", "Tags", id="keys.tags"),
        WriteBinding("a", "assign_accounts", "Accounts", id="keys.accounts"),
        WriteBinding("m", "move_accounts", "Move", id="keys.move"),
        WriteBinding("e", "enable", "Enable", id="keys.enable"),
        WriteBinding("d", "disable", "Disable", id="keys.disable"),
        WriteBinding("f", "edit_fields", "Fields", id="keys.fields"),
        # Off the footer (FOOTER_FIRST keeps what fits); help and the palette list them.
        WriteBinding("x", "delete_keys", "Delete", show=False, id="keys.delete"),
        WriteBinding("r", "restore_keys", "Restore", show=False, id="keys.restore"),
        WriteBinding("P", "purge_keys", "Purge", show=False, id="keys.purge"),
        Binding("D", "deleted_view", "Deleted keys", show=False, id="keys.deleted"),
        # Off the footer; help and the palette list it.
        WriteBinding("u", "undo", "Undo", show=False, id="keys.undo"),
        Binding("o", "operations", "Ops/audit", id="keys.operations"),
        Binding("ctrl+r", "reload", "Reload", show=False, id="keys.reload"),
    ]
    # What the footer keeps when the terminal is narrow (80 columns fit the first five beside
    # `? Help` and the palette): the keys an operator on call reaches for first.
    FOOTER_FIRST = (
        "mark",
        "focus_filter",
        "edit_tags",
        "assign_accounts",
        "edit_fields",
        "disable",
        "enable",
        "operations",
        "range",
        "mark_shown",
        "move_accounts",
    )

    def __init__(self) -> None:
        super().__init__()
        self.filter_text = ""
        self._filter_timer: Timer | None = None
        self._last_filter_at = 0.0
        self._scan: FilterScan | None = None
        # Why the typed query cannot be used ("" when it can): the list then shows no keys.
        self.query_problem = ""
        # The first load's usage read waits for the first filter to show every row.
        self._usage_after_filter = False
        # The filter text the shown list is the result of (None before the first filter):
        # an action first brings the list up to the text typed, so it never works on the
        # result of an older query.
        self._filtered_text: str | None = None
        self.loaded = False
        # Reading the whole list now (not `loading`: Textual's reactive of that name covers
        # the screen with a spinner).
        self.reading_all = False
        self._rereading = False  # the rows on screen are being read again
        self._marker: tuple[object, ...] | None = None  # the last change marker read
        self.deleted_count = 0  # soft-deleted keys in the loaded table (hidden unless asked for)
        self.reconnected = False  # the next load follows a lost connection: say it is back
        self._usage_stale = False  # the next load follows a batch or a reconnect: usage too

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
        yield ConsoleFooter()

    @property
    def view(self) -> KeyListView:
        return self.query_one("#keys", KeyListView)

    def describe_bindings(self, row: KeyRow) -> str:
        data = self.keyops.data
        return data.describe_bindings(row) if data is not None else ""

    def on_mount(self) -> None:
        self.view.focus()
        self.view.marking_refused = self.action_refused
        self.update_banner()
        # The console says when Redis is lost or back and when a batch ended; the list follows.
        self.watch(self.app, CONNECTION_LOST, self.connection_changed, init=False)
        self.watch(self.app, RECONNECT_EVERY, self.update_banner, init=False)
        self.watch(self.app, BATCHES_FINISHED, self.reload_after_batch, init=False)
        self.load_keys()
        config = self.keyops.config
        self.set_interval(1.0, self.update_status)  # the data's age ticks
        self.set_interval(config.refresh_rows_seconds, self.refresh_rows)
        self.set_interval(config.refresh_list_seconds, self.refresh_list)
        self.start_usage()

    def on_screen_resume(self) -> None:
        # Back from a dialog or another screen: show what Redis holds now, not what it held.
        if self.loaded:
            self.refresh_rows()

    # -- loading ---------------------------------------------------------------------------------

    @work(exclusive=True, group="load", exit_on_error=False, description="Loading the keys")
    async def load_keys(self) -> None:
        status = self.query_one("#status-line", Static)
        first = not self.loaded
        if first:
            status.update("loading keys…")
        self.reading_all = True
        try:
            data = await self.keyops.open_data()
            await data.load(self.keyops.clock())
        except KeyopsError as error:
            if self.loaded:
                # The list keeps what it showed, and the marks: the banner says it is stale.
                self.update_status()
            else:
                status.update(shown(f"cannot load keys: {error}"))
            self.keyops.report_failure("Loading the keys", error, background=True)
            return
        finally:
            self.reading_all = False
        if self.reconnected:
            self.reconnected = False
            self.notify(
                f"{len(data.table)} keys reloaded; {len(data.selection)} marked",
                title="Redis answers again",
            )
        self.loaded = True
        self.deleted_count = data.deleted_count()
        self.update_banner()  # the session may have turned out read-only (ACL)
        if first:
            self._scan = None  # new rows: nothing from an earlier filter carries over
            self.run_filter()
        else:
            await self._refilter_new_rows()
            await data.free_replaced_rows()  # no list shows the rows read before any more
        if self._usage_stale:
            self._usage_stale = False
            self.usage_after_reload()
        elif self._scan is not None and not self._scan.complete:
            # After the first filter has shown every row: usage never delays the list (read
            # beside the filter's slices, it took the CPU they needed at 100,000 keys).
            self._usage_after_filter = True
        else:
            self.ensure_usage()
        self.keyops.offer_recovery()

    async def _refilter_new_rows(self) -> None:
        """The filter over newly read rows, done a slice per event-loop turn off screen and
        shown at once when complete: the list never shows a partial result of a refresh, and
        the cursor stays on its key."""
        data = self.data
        text = self.filter_text
        try:
            query = data.compile(text, self.keyops.clock())
        except QueryError:
            self.run_filter()  # shows the problem and no keys
            return
        scan = FilterScan(query, [] if self.usage_unread(query) else data.sorted_rows)
        old_scan = self._scan
        while not scan.complete:
            scan.step(FILTER_SLICE)
            if not scan.complete:
                await asyncio.sleep(0)
            if self._scan is not old_scan:
                return  # a keystroke filtered the new rows itself meanwhile
        self._scan = scan
        self._filtered_text = text
        self.view.show_rows(scan.found, refresh=True)
        self.update_status()

    def refresh_rows(self) -> None:
        # One at a time: on a slow link a new tick must not cancel the read before it, or
        # no refresh would ever land.
        if self.loaded and not self.reading_all and not self._rereading and self.app.screen is self:
            self._rereading = True
            self._refresh_rows()

    @work(exclusive=True, group="refresh", exit_on_error=False)
    async def _refresh_rows(self) -> None:
        """Reads the keys on screen again (one round trip) and the change marker; a row that
        changed takes its place, and a changed marker reads the whole list again."""
        try:
            await self._reread_rows()
        finally:
            self._rereading = False

    async def _reread_rows(self) -> None:
        data = self.data
        if self.keyops.lost_connection:
            return  # the health check says when Redis is back, and the list reloads then
        ids = [row.id for row in self.view.visible_rows()]
        now = self.keyops.clock()
        loads = data.loads
        try:
            changed = await data.session.reread(ids) if ids else {}
            marker = await data.session.change_marker()
        except KeyopsError as error:
            self.keyops.connection_problem(str(error))
            return
        if self.reading_all or data.loads != loads:
            return  # a full read started meanwhile: it shows newer data than this
        data.take_changes(changed, now)
        if changed:
            if any(row is None or row.is_deleted for row in changed.values()):
                self.deleted_count = data.deleted_count()
            scan = self._scan
            if scan is not None:
                self.view.update_rows(changed, lambda row: bool(scan.query.filter([row])))
        self.update_status()
        if self._marker is not None and marker != self._marker:
            self.load_keys()
        self._marker = marker

    def refresh_list(self) -> None:
        if self.loaded and not self.reading_all and self.app.screen is self:
            self.load_keys()

    def reload_after_batch(self) -> None:
        self._usage_stale = True  # a disable or a limit changes what CRS would answer
        self.load_keys()

    def connection_changed(self, was_lost: str, lost: str) -> None:
        self.update_banner()
        if was_lost and not lost:
            self.reconnected = True
            self._usage_stale = True
            self.load_keys()  # Redis answers again: show what it holds now (marks are kept)

    # -- filtering -------------------------------------------------------------------------------

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        if event.value == self.filter_text:
            return  # already filtered (escape clears the box and filters at once)
        self.filter_text = event.value
        now = time.monotonic()
        if self._filter_timer is not None:
            self._filter_timer.stop()
        if now - self._last_filter_at >= FILTER_COALESCE_SECONDS:
            self.run_filter()
        else:
            self._filter_timer = self.set_timer(FILTER_COALESCE_SECONDS, self.run_filter)
        self._last_filter_at = now

    @on(Input.Submitted, "#filter")
    def filter_submitted(self) -> None:
        self.bring_up_to_date()
        self.view.focus()

    def bring_up_to_date(self) -> None:
        """Filters now if the typed text has not been (keystrokes still coalescing), and
        completes a filter still scanning: what is shown is then what was typed, whole."""
        if self._filtered_text != self.filter_text:
            if self._filter_timer is not None:
                self._filter_timer.stop()
            self.run_filter()
        self.finish_filter()

    def action_refused(self) -> str:
        """Why marks and actions are refused now ("" when they are not); the list is first
        brought up to the typed filter, so the answer is about what is on screen."""
        self.bring_up_to_date()
        if not self.loaded:
            return "the keys are still loading"
        if self.query_problem:
            return f"the filter is invalid ({self.query_problem}): fix it, or esc to clear it"
        if self._scan is not None and self.usage_unread(self._scan.query):
            return "the filter needs usage, not read yet: its keys show once it is"
        return ""

    def usage_unread(self, query: KeyQuery) -> bool:
        """The query filters on usage that was never read: it can match nothing yet."""
        data = self.keyops.data
        return query.needs_usage and (data is None or not data.live.loaded)

    def refuse_action(self) -> bool:
        refusal = self.action_refused()
        if refusal:
            self.notify(refusal, title="Nothing done", severity="warning")
        return bool(refusal)

    def run_filter(self) -> None:
        """Filters in slices: the first slice is painted at once, the rest follow between
        keystrokes, so typing stays within a frame or two even at 100,000 keys."""
        data = self.keyops.data
        if data is None or not self.loaded:
            return
        text = self.filter_text
        self._filtered_text = text
        error_line = self.query_one("#filter-error", Static)
        try:
            query = data.compile(text, self.keyops.clock())
        except QueryError as error:
            # A bad query leaves no keys to act on: nothing of an older result stays, and the
            # scan of an older query still running stops (it is no longer `self._scan`).
            pointer = error.pointer(text)
            error_line.update(Text((pointer + "\n" if pointer else "") + printable(error.reason)))
            error_line.add_class("visible")
            self.query_problem = error.reason
            self._scan = None
            self.view.show_rows([])
            self.update_status()
            return
        self.query_problem = ""
        error_line.remove_class("visible")
        if query.needs_usage:
            self.ensure_usage()  # the filter shows its result again when usage arrives
        previous = self._scan
        if self.usage_unread(query):
            source = []  # no usage would read as no cost: every key would match `-cost.today:>0`
        elif previous is not None and previous.complete and query.narrows(previous.query):
            source = previous.found  # typing on: only what matched before can match now
        else:
            source = data.sorted_rows
        self._scan = scan = FilterScan(query, source)
        scan.step(FILTER_SLICE)
        self.view.show_rows(scan.found)
        self.update_status()
        if not scan.complete:
            self._continue_filter(scan)
        else:
            self._scan_settled()

    @work(exclusive=True, group="filter", exit_on_error=False)
    async def _continue_filter(self, scan: FilterScan) -> None:
        """The rest of a scan, a slice per event-loop turn: a key pressed meanwhile waits one
        slice at most. (Continued after each refresh instead, the slices ran back to back in
        the screen's message loop whenever nothing was left to paint: one 50-70 ms step.)"""
        while True:
            await asyncio.sleep(0)
            if scan is not self._scan or scan.complete:
                return  # a newer keystroke started its own scan, or `*` completed this one
            if self.filter_text != self._filtered_text:
                return  # the text moved on (its filter is coalescing): no more rows of the old one
            scan.step(FILTER_SLICE)
            self.view.rows_grew()
            self.update_status()
            if scan.complete:
                self._scan_settled()
                return

    def _scan_settled(self) -> None:
        """A filter has shown all it matches: the first usage read may start now."""
        if self._usage_after_filter:
            self._usage_after_filter = False
            self.ensure_usage()

    def finish_filter(self) -> None:
        """Completes a filter still scanning (before marking everything it shows)."""
        scan = self._scan
        if scan is not None and not scan.complete:
            scan.step(len(scan.source))
            self.view.rows_grew()
            self.update_status()
            self._scan_settled()

    def update_status(self) -> None:
        data = self.keyops.data
        if data is None or not self.loaded:
            return  # "loading keys…" (or why they cannot be) stays
        marked = len(data.selection)
        # Usage sorts run highest first: the arrow points the way the values run.
        arrow = "▼" if data.sort_reverse != (data.sort_column in USAGE_SORTS) else "▲"
        scanning = self._scan is not None and not self._scan.complete
        if self.query_problem:
            shown_count = f"0 shown of {len(data.table)} keys (invalid filter)"
        elif self._scan is not None and self.usage_unread(self._scan.query):
            waiting = "Redis lost" if self.keyops.lost_connection else "reading it…"
            shown_count = f"0 shown of {len(data.table)} keys (usage not read: {waiting})"
        else:
            filtering = "+ (filtering…)" if scanning else ""
            shown_count = f"{len(self.view.rows)}{filtering} shown of {len(data.table)} keys"
        parts = [f"{marked} marked · {shown_count}"]
        # Most urgent first: the line is cut at the terminal's width.
        if data.selection.anchor is not None:
            # Short enough to fit beside the counts at 80 columns.
            parts.append("range: v marks it · esc cancels")
        if self.filter_text.strip() == DELETED_QUERY and not self.keyops.read_only:
            parts.append("r restore · P purge · D back")
        if self.keyops.read_only:
            parts.append("READ-ONLY")
        if data.checked_at:
            age = max(0, int(self.keyops.clock() - data.checked_at))
            parts.append(f"as of {utc_text(data.checked_at, CLOCK)} · {age} s ago")
        query = self._scan.query if self._scan is not None else None
        if self.deleted_count and not (query is not None and query.mentions_deleted):
            # Says why "shown" is less than the total, and which filter lists them.
            parts.append(f"{self.deleted_count} deleted hidden (status:deleted)")
        parts.append(f"sort: {data.sort_column.value} {arrow}")
        self.query_one("#status-line", Static).update(" · ".join(parts))

    def update_banner(self) -> None:
        banner = self.query_one("#banner", Static)
        problem = self.keyops.lost_connection
        if problem:
            since = utc_text(self.keyops.lost_at, CLOCK)
            every = f"{self.keyops.reconnect_every:g}"
            banner.update(
                shown(
                    f"Redis lost at {since} — retrying every {every} s; marks are kept · {problem}"
                )
            )
            banner.set_class(True, "visible", "lost")
            return
        lines: list[str] = []
        if self.keyops.read_only:
            reason = self.keyops.read_only_reason
            lines.append(
                "READ-ONLY session: edits, deletes, revert and recover are off"
                + (f" ({reason})" if reason and reason != "--read-only" else "")
            )
        data = self.keyops.data
        if data is not None and self.loaded:
            # CRS's admin list works from its index sets: say when they hide or miss keys.
            lines += [f"Index drift: {message}" for message in data.table.drift.messages()]
        banner.update(Text("\n").join(shown(line) for line in lines))
        banner.set_class(bool(lines), "visible")
        banner.set_class(False, "lost")

    # -- list events -----------------------------------------------------------------------------

    @on(KeyListView.MarksChanged)
    def marks_changed(self) -> None:
        self.update_status()

    @on(KeyListView.MarkShownRequested)
    def mark_shown(self) -> None:
        if not self.view.refuses_marks():  # brings the list up to the typed filter first
            self.view.mark_shown()

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
        self._scan = None  # an earlier result is in the old order
        self.run_filter()
        self.ensure_usage()

    def query_needs_usage(self) -> bool:
        return self._scan is not None and self._scan.query.needs_usage

    async def usage_arrived(self) -> None:
        """A usage read landed: a usage sort is redone (a slice per event-loop turn), a usage
        filter runs again, and the cells repaint; the cursor stays on its key."""
        data = self.data
        resorted = False
        if data.sort_column in USAGE_SORTS:
            resorted = await data.resort_gently(self.keyops.clock())
        if resorted or self.query_needs_usage():
            await self._refilter_new_rows()
        else:
            self.view.refresh()
        self.update_status()

    @on(KeyListView.DetailRequested)
    def show_detail(self, event: KeyListView.DetailRequested) -> None:
        from keyops.tui.screens.key_detail import KeyDetailScreen

        self.app.push_screen(KeyDetailScreen(event.row))

    # -- actions ---------------------------------------------------------------------------------
    # Each action imports the screen it opens: those screens and the batch engine behind them
    # cost the console's start ~0.3 s of CPU, and a session opens few of them.

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_escape(self) -> None:
        if self.view.cancel_range():
            self.update_status()
            return
        filter_input = self.query_one("#filter", Input)
        filter_input.value = ""
        if self.filter_text:
            # Filtered now, not when the box's change message arrives: a key pressed right
            # after esc acts on the list esc asked for.
            self.filter_text = ""
            self.run_filter()
        self.view.focus()

    def target_ids(self) -> list[str]:
        """The marked keys, or the highlighted one when nothing is marked; none (and a note
        saying why) while the filter is invalid."""
        if self.refuse_action():
            return []
        data = self.data
        if data.selection.marked:
            return data.marked_ids()
        row = self.view.highlighted
        return [row.id] if row is not None else []

    def action_edit_tags(self) -> None:
        ids = self.target_ids()
        if ids:
            from keyops.tui.screens.tag_editor import TagEditorScreen

            self.app.push_screen(TagEditorScreen(ids))

    def action_assign_accounts(self) -> None:
        ids = self.target_ids()
        if ids:
            from keyops.tui.screens.account_assign import AccountAssignScreen

            self.app.push_screen(AccountAssignScreen(ids))

    def action_move_accounts(self) -> None:
        ids = self.target_ids()
        if ids:
            from keyops.tui.screens.account_move import AccountMoveScreen

            self.app.push_screen(AccountMoveScreen(ids))

    def action_enable(self) -> None:
        self._status(enable=True)

    def action_disable(self) -> None:
        self._status(enable=False)

    def _status(self, *, enable: bool) -> None:
        ids = self.target_ids()
        if ids:
            from keyops.tui.screens.status_change import StatusChangeScreen

            self.app.push_screen(StatusChangeScreen(ids, enable=enable))

    def action_edit_fields(self) -> None:
        ids = self.target_ids()
        if ids:
            from keyops.tui.screens.key_edit import KeyEditScreen

            self.app.push_screen(KeyEditScreen(ids))

    def action_delete_keys(self) -> None:
        ids = self.target_ids()
        if ids:
            from keyops.tui.screens.key_lifecycle import LifecycleScreen

            self.app.push_screen(LifecycleScreen(ids, "delete"))

    def action_restore_keys(self) -> None:
        ids = self.target_ids()
        if ids:
            from keyops.tui.screens.key_lifecycle import LifecycleScreen

            self.app.push_screen(LifecycleScreen(ids, "restore"))

    def action_purge_keys(self) -> None:
        ids = self.target_ids()
        if ids:
            from keyops.tui.screens.key_lifecycle import PurgeScreen

            self.app.push_screen(PurgeScreen(ids))

    def action_deleted_view(self) -> None:
        """The soft-deleted keys (the filter status:deleted), or back to every key."""
        text = "" if self.filter_text.strip() == DELETED_QUERY else DELETED_QUERY
        self.query_one("#filter", Input).value = text
        self.filter_text = text  # filtered now: a key pressed next acts on this view
        self.run_filter()
        self.view.focus()

    def action_undo(self) -> None:
        op_id = self.keyops.last_op_id
        if not op_id:
            self.notify(
                "Nothing to undo: this console has changed no key yet. "
                "o lists every operation; r there reverts one.",
                severity="warning",
            )
            return
        self.plan_undo(op_id)

    @work(exclusive=True, group="undo", exit_on_error=False)
    async def plan_undo(self, op_id: str) -> None:
        """Plans the revert (reading every key the operation wrote: seconds at 49,000 keys,
        so it says it is working), then hands it to the confirm."""
        session = self.data.session
        try:
            record = await session.op(op_id)
            self.notify(
                f"planning revert of {record.counts.applied:,} keys ({record.summary})…",
                title=f"Undo {op_id}",
            )
            plan = await session.plan_revert(op_id)
        except KeyopsError as error:
            self.keyops.report_failure(f"Planning the undo of {op_id}", error)
            return
        self.keyops.run_plan(plan)

    def action_operations(self) -> None:
        from keyops.tui.screens.operations import OperationsScreen

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
                "Edit tags", "Add or remove tags on the marked keys", self.action_edit_tags
            ),
            PaletteCommand(
                "Assign accounts",
                "Bind the marked keys to accounts or groups",
                self.action_assign_accounts,
            ),
            PaletteCommand(
                "Move keys to another account",
                "Every key bound to an account of the marked keys, to another account",
                self.action_move_accounts,
            ),
            PaletteCommand("Enable keys", "Enable the marked keys", self.action_enable),
            PaletteCommand("Disable keys", "Disable the marked keys", self.action_disable),
            PaletteCommand(
                "Edit fields",
                "Limits, permissions, service rates, expiry of the marked keys",
                self.action_edit_fields,
            ),
            PaletteCommand(
                "Delete keys", "Soft-delete the marked keys (type delete)", self.action_delete_keys
            ),
            PaletteCommand(
                "Show deleted keys",
                "The soft-deleted keys (status:deleted); again for every key",
                self.action_deleted_view,
            ),
            PaletteCommand(
                "Restore keys",
                "Restore the marked soft-deleted keys (type restore)",
                self.action_restore_keys,
            ),
            PaletteCommand(
                "Purge keys",
                "Remove the marked soft-deleted keys for good (type their count)",
                self.action_purge_keys,
            ),
            PaletteCommand(
                "Undo last operation (revert)",
                "Revert this console's last operation: preview, then confirm",
                self.action_undo,
            ),
            PaletteCommand(
                "Operations and audit",
                "Recent operations, audit trail, revert, export",
                self.action_operations,
            ),
            PaletteCommand(
                "Reload keys", "Read every key again (marks are kept)", self.action_reload
            ),
        ]
        commands += self.usage_palette_commands()
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
