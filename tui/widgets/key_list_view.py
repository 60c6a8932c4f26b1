"""KeyListView: a virtualised list of key rows with a cursor, marks and ranges.

Only the visible lines are rendered (the Line API, like Toolong's LogLines), so 100,000 keys
cost nothing on screen; Textual's DataTable measures every cell when rows are added and
freezes for seconds at that size.

Bindings (ids in brackets, remappable): up/k, down/j, pageup/ctrl+u, pagedown/ctrl+d, home/g,
end/G move [keys.*]; space marks the key [keys.mark]; v starts a range and marks it on the
second press [keys.range]; * marks every key shown [keys.mark_shown]; U clears all marks
[keys.clear_marks]; s sorts by the next column (the usage columns shown included), S
reverses [keys.sort, keys.sort_reverse]; enter shows the key [keys.detail].

Usage columns (cost today, $/min, limit share...) are the ones the screen sets in
`usage_columns`; their cells come from `usage_cell`, and a usage sort orders by the figure
`sort_rows` is given, highest first.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from itertools import islice
from operator import attrgetter
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from keyops.core.api import DAY, KeyRow, KeyStatus, printable, utc_text
from keyops.tui.formatting import cut_middle
from keyops.tui.selection import Selection
from keyops.tui.usage_columns import BURNING, NEAR, OVER, USAGE_COLUMN_SPECS


class SortColumn(StrEnum):
    NAME = "name"
    STATUS = "status"
    LAST_USED = "last used"
    CREATED = "created"
    ID = "id"
    # Usage figures (highest first unless reversed): the values are the sort's words.
    REQUESTS_TODAY = "requests today"
    COST_TODAY = "cost today"
    COST_WEEK = "cost this week"
    COST_TOTAL = "total cost"
    CONCURRENCY = "concurrency"
    LIMIT = "limit share"
    VERDICT = "verdict"
    RATE = "$/min"


# The usage column each usage sort orders by, and back.
USAGE_SORTS = {SortColumn(spec.sort_words): spec.name for spec in USAGE_COLUMN_SPECS.values()}
SORT_OF_USAGE = {name: column for column, name in USAGE_SORTS.items()}
SORT_CYCLE = [column for column in SortColumn if column not in USAGE_SORTS]
RowFigure = Callable[[KeyRow], float]
_STATUS_ORDER = {
    KeyStatus.ACTIVE: 0,
    KeyStatus.DISABLED: 1,
    KeyStatus.EXPIRED: 2,
    KeyStatus.DELETED: 3,
}


def sort_rows(
    rows: list[KeyRow],
    column: SortColumn,
    reverse: bool,
    now: float,
    figure: RowFigure | None = None,
) -> list[KeyRow]:
    """Rows in display order; ties fall back to the name so the order is stable to read.
    A usage sort orders by `figure` (a key's usage figure), highest first."""
    by_name = sorted(rows, key=lambda row: row.name_folded)  # folded once, when rows are built
    if column in USAGE_SORTS:
        return sorted(by_name, key=figure or (lambda row: 0.0), reverse=not reverse)
    if column is SortColumn.NAME:
        return by_name[::-1] if reverse else by_name
    if column is SortColumn.STATUS:
        return sorted(by_name, key=lambda row: _STATUS_ORDER[row.status(now)], reverse=reverse)
    if column is SortColumn.ID:
        return sorted(by_name, key=lambda row: row.id, reverse=reverse)
    attribute = "last_used_at" if column is SortColumn.LAST_USED else "created_at"
    # Newest first reads best for dates; keys never used sort last.
    return sorted(by_name, key=lambda row: getattr(row, attribute) or 0.0, reverse=not reverse)


# Rows sorted or merged per event-loop turn by `sort_rows_gently`.
SORT_SLICE = 10_000


def _merge_key(
    column: SortColumn, reverse: bool, now: float, figure: RowFigure | None = None
) -> tuple[Callable[[KeyRow], Any], bool]:
    """A key (and direction) that orders rows exactly as `sort_rows` does, for merging runs
    it sorted: ties fall back to the name ascending, except in a reversed name sort."""
    if column in USAGE_SORTS:
        of = figure or (lambda row: 0.0)
        sign = 1 if reverse else -1  # highest first unless reversed
        return (lambda row: (sign * of(row), row.name_folded)), False
    if column is SortColumn.NAME:
        return attrgetter("name_folded"), reverse
    if column is SortColumn.ID:
        return attrgetter("id"), reverse  # ids are unique: no ties
    if column is SortColumn.STATUS:
        sign = -1 if reverse else 1
        return (lambda row: (sign * _STATUS_ORDER[row.status(now)], row.name_folded)), False
    attribute = "last_used_at" if column is SortColumn.LAST_USED else "created_at"
    sign = 1 if reverse else -1  # newest first unless reversed
    return (lambda row: (sign * (getattr(row, attribute) or 0.0), row.name_folded)), False


async def sort_rows_gently(
    rows: list[KeyRow],
    column: SortColumn,
    reverse: bool,
    now: float,
    figure: RowFigure | None = None,
) -> list[KeyRow]:
    """`sort_rows` a slice per event-loop turn: runs of SORT_SLICE rows sorted, then merged
    SORT_SLICE at a time. One sort of 100,000 names held the loop for ~70 ms; a background
    reload must not hold it that long."""
    runs = []
    for start in range(0, len(rows), SORT_SLICE):
        runs.append(sort_rows(rows[start : start + SORT_SLICE], column, reverse, now, figure))
        await asyncio.sleep(0)
    if len(runs) <= 1:
        return runs[0] if runs else []
    key, merge_reverse = _merge_key(column, reverse, now, figure)
    merged = heapq.merge(*runs, key=key, reverse=merge_reverse)
    ordered: list[KeyRow] = []
    while len(ordered) < len(rows):
        ordered.extend(islice(merged, SORT_SLICE))
        await asyncio.sleep(0)
    return ordered


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    width: int  # fixed cells, or 0 for a share of what is left
    share: int = 0
    sort: SortColumn | None = None
    usage: str = ""  # a usage column: the figure's name (its cells come from `usage_cell`)
    numeric: bool = False  # right-aligned


WIDE_COLUMNS = (
    Column("name", 0, 3, SortColumn.NAME),
    Column("id", 8, sort=SortColumn.ID),
    Column("status", 8, sort=SortColumn.STATUS),
    Column("tags", 0, 2),
    Column("bound to", 0, 3),  # accounts and groups per platform; "-": the shared pool
    Column("last used", 10, sort=SortColumn.LAST_USED),
    Column("created", 10, sort=SortColumn.CREATED),
)
# Under 96 cells the created date gives way to the columns an operator acts on.
NARROW_COLUMNS = WIDE_COLUMNS[:-1]
MARK_WIDTH = 2
# Usage columns go after the status; when the row is too narrow for them and at least this
# much for name, tags and bindings together, the dates and the id give way first, then the
# usage columns from the last one picked (at 80 cells a name keeps 15 cells: cut to 13,
# fleet names like "alpha-console-1" were no longer told apart).
FLEX_MINIMUM = 42
GIVES_WAY = ("created", "id", "last used")


def usage_column(name: str) -> Column:
    spec = USAGE_COLUMN_SPECS[name]
    return Column(
        spec.title, spec.width, sort=SORT_OF_USAGE[name], usage=name, numeric=spec.numeric
    )


def _fixed_width(columns: list[Column]) -> int:
    return MARK_WIDTH + sum(c.width for c in columns) + len(columns) - 1


@lru_cache(maxsize=64)
def layout_columns(width: int, usage: tuple[str, ...] = ()) -> tuple[tuple[Column, int], ...]:
    """Column widths for a view width and the usage columns shown (asked for every rendered
    line, so cached)."""
    base = WIDE_COLUMNS if width >= 96 else NARROW_COLUMNS
    columns = list(base[:3]) + [usage_column(name) for name in usage] + list(base[3:])
    for title in GIVES_WAY:
        if not usage or width - _fixed_width(columns) >= FLEX_MINIMUM:
            break
        columns = [c for c in columns if c.title != title]
    shown = list(usage)
    while len(shown) > 1 and width - _fixed_width(columns) < FLEX_MINIMUM:
        dropped = shown.pop()
        columns = [c for c in columns if c.usage != dropped]
    fixed = _fixed_width(columns)
    spare = max(width - fixed, len(columns) * 4)
    shares = sum(c.share for c in columns)
    laid, given = [], 0
    flexible = [c for c in columns if c.share]
    for column in columns:
        if column.share:
            size = spare * column.share // shares
            if column is flexible[-1]:
                size = spare - given
            given += size
            laid.append((column, size))
        else:
            laid.append((column, column.width))
    return tuple(laid)


# Rows either side of a key's old line looked at before the whole list.
_NEAR = 200


def _find(rows: list[KeyRow], key_id: str, near: int, missing: int | None) -> int | None:
    """Where a key is in `rows`; `missing` when it is not there. Looked for around `near`
    first: after a background reload with the same filter a key is almost always on its old
    line or close by, and the pass over 100,000 ids (even at C speed) was the longest step
    of the reload's last event-loop turn."""
    low, high = max(0, near - _NEAR), min(len(rows), near + _NEAR + 1)
    for position in range(low, high):
        if rows[position].id == key_id:
            return position
    try:
        return list(map(attrgetter("id"), rows)).index(key_id)
    except ValueError:
        return missing


def _date(epoch: float | None) -> str:
    return utc_text(epoch, DAY, missing="never")


def _fit(text: str, width: int) -> str:
    if cell_len(text) > width:
        return set_cell_size(text, max(width - 1, 0)) + "…"
    return set_cell_size(text, width)


def _fit_middle(text: str, width: int) -> str:
    """Cut in the middle (fleet names share their start and differ at the end), padded."""
    return set_cell_size(cut_middle(text, width), width)


class KeyListView(ScrollView, can_focus=True):
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False, id="keys.up"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="keys.down"),
        Binding("pageup,ctrl+u", "page(-1)", "Page up", show=False, id="keys.page_up"),
        Binding("pagedown,ctrl+d", "page(1)", "Page down", show=False, id="keys.page_down"),
        Binding("home,g", "jump(0)", "First", show=False, id="keys.first"),
        Binding("end,G", "jump(-1)", "Last", show=False, id="keys.last"),
        Binding("space", "mark", "Mark", id="keys.mark"),
        Binding("v", "range", "Range", id="keys.range"),
        Binding("asterisk", "mark_shown", "Mark shown", id="keys.mark_shown"),
        Binding("U", "clear_marks", "Unmark all", show=False, id="keys.clear_marks"),
        Binding("s", "sort", "Sort", show=False, id="keys.sort"),
        Binding("S", "sort_reverse", "Reverse sort", show=False, id="keys.sort_reverse"),
        Binding("enter", "detail", "Details", show=False, id="keys.detail"),
    ]

    COMPONENT_CLASSES = {
        "key-list--header",
        "key-list--cursor",
        "key-list--marked",
        "key-list--range",
        "key-list--disabled",
        "key-list--expired",
        "key-list--deleted",
        "key-list--damaged",
        "key-list--near",
        "key-list--over",
        "key-list--burning",
    }

    DEFAULT_CSS = """
    KeyListView { height: 1fr; background: $surface; overflow-x: hidden; }
    KeyListView > .key-list--header { text-style: bold; background: $panel; }
    KeyListView > .key-list--cursor { background: $primary 40%; }
    KeyListView:focus > .key-list--cursor { background: $primary; color: $text; }
    KeyListView > .key-list--marked { color: $warning; text-style: bold; }
    KeyListView > .key-list--range { background: $secondary 30%; }
    KeyListView > .key-list--disabled { color: $text-muted; }
    KeyListView > .key-list--expired { color: $warning; }
    KeyListView > .key-list--deleted { color: $error; }
    KeyListView > .key-list--damaged { color: $error; text-style: bold reverse; }
    KeyListView > .key-list--near { color: $warning; }
    KeyListView > .key-list--over { color: $error; text-style: bold; }
    KeyListView > .key-list--burning { color: $error; text-style: bold; }
    """

    cursor = reactive(0, repaint=False, always_update=True)

    class MarksChanged(Message):
        def __init__(self, view: KeyListView) -> None:
            super().__init__()
            self.view = view

        @property
        def control(self) -> KeyListView:
            return self.view

    class DetailRequested(Message):
        def __init__(self, row: KeyRow) -> None:
            super().__init__()
            self.row = row

    class MarkShownRequested(Message):
        """`*`: the screen completes a filter still scanning, then calls `mark_shown`."""

    class SortChanged(Message):
        def __init__(self, column: SortColumn, reverse: bool) -> None:
            super().__init__()
            self.column = column
            self.reverse = reverse

    def __init__(
        self,
        selection: Selection,
        describe_bindings: Callable[[KeyRow], str],
        clock: Callable[[], float],
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.selection = selection
        self.describe_bindings = describe_bindings
        self.clock = clock
        self.rows: list[KeyRow] = []
        self.sort_column = SortColumn.NAME
        self.sort_reverse = False
        self._now = clock()
        # Asked before every mark: brings the list up to the typed filter and says why marking
        # is refused ("" when it is not). The screen sets it: an invalid filter shows no keys,
        # so nothing may be marked from it.
        self.marking_refused: Callable[[], str] = lambda: ""
        # The usage columns shown and their cells (text, and "", "near", "over" or "burning");
        # the screen sets both.
        self.usage_columns: tuple[str, ...] = ()
        self.usage_cell: Callable[[KeyRow, str], tuple[str, str]] = lambda row, name: ("", "")

    # -- content ---------------------------------------------------------------------------------

    def show_rows(self, rows: list[KeyRow], *, refresh: bool = False) -> None:
        """Replaces the shown rows (already filtered and sorted); keeps the cursor on its key.

        `refresh`: the same filter over newly read data. The cursor's key keeps its line on
        screen (its old position when it is gone) and a range being marked keeps its start,
        so a background refresh never moves what the operator is looking at.
        """
        current = self.highlighted
        anchor = self.selection.anchor
        anchor_row = (
            self.rows[anchor] if anchor is not None and 0 <= anchor < len(self.rows) else None
        )
        line = self.cursor - round(self.scroll_offset.y)
        self.rows = rows
        self._now = self.clock()
        self.virtual_size = Size(self.scrollable_content_region.width, len(rows) + 1)
        index = self.cursor if refresh else 0
        anchor = None
        # Found by id (a reload brings new row objects).
        if current is not None:
            index = _find(rows, current.id, self.cursor, index) or 0
        if anchor_row is not None and refresh:
            anchor = _find(rows, anchor_row.id, self.selection.anchor or 0, None)
        self.selection.anchor = anchor if refresh else None
        if refresh and rows:
            self.scroll_to(
                y=max(0, min(index, len(rows) - 1) - line), animate=False, immediate=True
            )
        self.move_cursor(index)
        self.refresh()

    def visible_rows(self) -> list[KeyRow]:
        """The rows on screen now (what the live refresh reads again)."""
        top = round(self.scroll_offset.y)
        return self.rows[top : top + self.page_height]

    def update_rows(
        self, changed: dict[str, KeyRow | None], keep: Callable[[KeyRow], bool]
    ) -> None:
        """Rows read again take their places on screen; one that is gone, or no longer matches
        the filter (`keep`), leaves the list. The cursor and a range start stay on their keys."""
        top = round(self.scroll_offset.y)
        end = min(top + self.page_height, len(self.rows))
        for index in range(end - 1, top - 1, -1):
            key_id = self.rows[index].id
            if key_id not in changed:
                continue
            fresh = changed[key_id]
            if fresh is not None and keep(fresh):
                self.rows[index] = fresh
                continue
            del self.rows[index]
            if index < self.cursor:
                self.cursor -= 1
            anchor = self.selection.anchor
            if anchor is not None and index <= anchor:
                self.selection.anchor = anchor - 1 if index < anchor else None
        self._now = self.clock()
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.rows) + 1)
        self.move_cursor(self.cursor)

    def rows_grew(self) -> None:
        """The shown list was extended in place (a filter still scanning added rows)."""
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.rows) + 1)
        self.refresh()

    @property
    def highlighted(self) -> KeyRow | None:
        if 0 <= self.cursor < len(self.rows):
            return self.rows[self.cursor]
        return None

    @property
    def page_height(self) -> int:
        return max(self.scrollable_content_region.height - 1, 1)

    def move_cursor(self, index: int) -> None:
        if not self.rows:
            self.cursor = 0
            self.refresh()
            return
        self.cursor = max(0, min(index, len(self.rows) - 1))
        top = round(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + self.page_height:
            self.scroll_to(y=self.cursor - self.page_height + 1, animate=False)
        self.refresh()

    # -- actions ---------------------------------------------------------------------------------

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self.cursor + direction * self.page_height)

    def action_jump(self, index: int) -> None:
        self.move_cursor(len(self.rows) - 1 if index < 0 else index)

    def refuses_marks(self) -> bool:
        refusal = self.marking_refused()
        if refusal:
            self.notify(refusal, title="Nothing marked", severity="warning")
        return bool(refusal)

    def action_mark(self) -> None:
        if self.refuses_marks():
            return
        row = self.highlighted
        if row is None:
            return
        bounds = self.selection.range_bounds(self.cursor)
        if bounds is not None:
            self.action_range()
            return
        self.selection.toggle(row.id)
        self.move_cursor(self.cursor + 1)  # like a file manager: mark and go on
        self.post_message(self.MarksChanged(self))

    def action_range(self) -> None:
        if self.refuses_marks() or not self.rows:
            return
        bounds = self.selection.range_bounds(self.cursor)
        if bounds is None:
            self.selection.anchor = self.cursor
            self.post_message(self.MarksChanged(self))
        else:
            start, end = bounds
            self.selection.mark_all(row.id for row in self.rows[start : end + 1])
            self.selection.anchor = None
            self.post_message(self.MarksChanged(self))
        self.refresh()

    def action_mark_shown(self) -> None:
        if self.refuses_marks():
            return
        self.post_message(self.MarkShownRequested())

    def mark_shown(self) -> None:
        self.selection.mark_all(row.id for row in self.rows)
        self.selection.anchor = None
        self.refresh()
        self.post_message(self.MarksChanged(self))

    def action_clear_marks(self) -> None:
        self.selection.clear()
        self.refresh()
        self.post_message(self.MarksChanged(self))

    def cancel_range(self) -> bool:
        if self.selection.anchor is None:
            return False
        self.selection.anchor = None
        self.refresh()
        return True

    def sort_cycle(self) -> list[SortColumn]:
        """What `s` steps through: the list's own columns, then the usage columns shown."""
        return SORT_CYCLE + [SORT_OF_USAGE[name] for name in self.usage_columns]

    def action_sort(self) -> None:
        cycle = self.sort_cycle()
        position = cycle.index(self.sort_column) if self.sort_column in cycle else -1
        self.sort_column = cycle[(position + 1) % len(cycle)]
        self.post_message(self.SortChanged(self.sort_column, self.sort_reverse))

    def action_sort_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self.post_message(self.SortChanged(self.sort_column, self.sort_reverse))

    def action_detail(self) -> None:
        row = self.highlighted
        if row is not None:
            self.post_message(self.DetailRequested(row))

    # -- rendering -------------------------------------------------------------------------------

    def on_resize(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.rows) + 1)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y == 0:
            return self._header(width)
        index = round(self.scroll_offset.y) + y - 1
        if index >= len(self.rows):
            return Strip.blank(width, self.rich_style)
        return self._row(index, width)

    def _header(self, width: int) -> Strip:
        style = self.get_component_rich_style("key-list--header")
        cells = []
        for column, size in layout_columns(width, self.usage_columns):
            title = column.title
            if column.sort is not None and column.sort is self.sort_column:
                if column.usage:  # highest first: the arrow points the way values run
                    arrow = "▲" if self.sort_reverse else "▼"
                    title = arrow + ("" if cell_len(title) + 2 > size else " ") + title
                else:
                    title += " ▼" if self.sort_reverse else " ▲"
            cells.append(title.rjust(size) if column.numeric else _fit(title, size))
        return Strip([Segment(_fit(" " * MARK_WIDTH + " ".join(cells), width), style)], width)

    def _row(self, index: int, width: int) -> Strip:
        row = self.rows[index]
        base = self.rich_style
        marked = row.id in self.selection
        bounds = self.selection.range_bounds(self.cursor)
        if index == self.cursor:
            base = base + self.get_component_rich_style("key-list--cursor")
        elif bounds is not None and bounds[0] <= index <= bounds[1]:
            base = base + self.get_component_rich_style("key-list--range")
        status = row.status(self._now)
        status_style = base
        if status is not KeyStatus.ACTIVE:
            status_style = base + self.get_component_rich_style(f"key-list--{status.value}")
        segments = [
            Segment(
                "● " if marked else "  ",
                base + self.get_component_rich_style("key-list--marked") if marked else base,
            )
        ]
        for position, (column, size) in enumerate(layout_columns(width, self.usage_columns)):
            separator = "" if position == 0 else " "
            if column.usage:
                text, level = self.usage_cell(row, column.usage)
                style = base
                if level in (NEAR, OVER, BURNING):
                    style = base + self.get_component_rich_style(f"key-list--{level}")
                fitted = _fit(text, size)
                if column.numeric and cell_len(text) <= size:
                    fitted = " " * (size - cell_len(text)) + text
                segments.append(Segment(separator + fitted, style))
                continue
            text = self._cell(row, column.title, status)
            style = status_style if column.title == "status" else base
            if marked and column.title == "name":
                style = base + Style(bold=True)
            # Names only: a "bound to" cell lists several bindings, and a middle cut would join
            # two of them into what reads as one account name.
            fit = _fit_middle if column.title == "name" else _fit
            segments.append(Segment(separator + fit(text, size), style))
        strip = Strip(segments)
        return strip.adjust_cell_length(width, base)

    def _cell(self, row: KeyRow, title: str, status: KeyStatus) -> str:
        # Stored text is shown through printable: it never reaches the terminal raw.
        if title == "name":
            return printable(row.name)
        if title == "id":
            return printable(row.id[:8])
        if title == "status":
            return status.value
        if title == "tags":
            return printable(",".join(row.tags)) or "-"
        if title == "bound to":
            return self.describe_bindings(row)
        if title == "last used":
            return _date(row.last_used_at)
        return _date(row.created_at)
