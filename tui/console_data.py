"""What the console holds between screens: the loaded keys, the account catalog and the marks.

The screens read and change this; it reaches Redis only through the core's session, never with
a client of its own.
"""

from __future__ import annotations

import gc
from collections import Counter
from operator import attrgetter

from keyops.core.api import (
    FIELD_SHORT_NAMES,
    AccountCatalog,
    BadBinding,
    BindingField,
    KeyopsSession,
    KeyQuery,
    KeyRow,
    KeyTable,
    binding_labels,
    parse_binding,
    printable,
)
from keyops.tui.collector import collect_closed_screens, free_gently, no_full_collections
from keyops.tui.live_usage import LiveUsage
from keyops.tui.selection import Selection
from keyops.tui.widgets.key_list_view import (
    USAGE_SORTS,
    RowFigure,
    SortColumn,
    sort_rows,
    sort_rows_gently,
)

BINDING_FIELDS = {field.value: field for field in BindingField}


class ConsoleData:
    def __init__(self, session: KeyopsSession, selection: Selection) -> None:
        self.session = session
        self.table = KeyTable()
        self.catalog = AccountCatalog()
        self.selection = selection
        self.sorted_rows: list[KeyRow] = []
        self.sort_column = SortColumn.NAME
        self.sort_reverse = False
        self._binding_text: dict[tuple[str, ...], str] = {}
        self.loaded = False
        # When the whole list was last read, and when the rows on screen were (clock time):
        # what the key list's "as of" says.
        self.loaded_at = 0.0
        self.checked_at = 0.0
        self.loads = 0  # how many times the whole list was read (a refresh begun before the
        # latest read must not land on top of it)
        self.live = LiveUsage()  # usage as last read, with $/min (read when first needed)
        # Rows a reload replaced, held until `free_replaced_rows` lets go of them a slice at a
        # time: freed at once, when the key list dropped the last list showing them, 100,000
        # rows held the event loop 40-80 ms (the longest step of a background reload).
        self._replaced: list[KeyRow] = []

    async def load(self, now: float) -> None:
        """(Re)reads every key and account; marks of keys that still exist are kept.

        A reload sorts a slice per event-loop turn (the console stays responsive meanwhile);
        the list shown until it is done is the one read before.
        """
        # Screens closed since (a preview, a confirm, a progress screen: cycles holding a
        # 100,000-key plan) are freed before the new rows are made: rows made while that
        # garbage waits land between its objects, and the memory stays taken once it is freed
        # (RSS grew ~40 MB a batch; bench/batch_rss). The first load has nothing closed to
        # free yet, nor has a background reload with no screen closed since the last one.
        if self.loaded:
            collect_closed_screens()
        with no_full_collections():
            # The session keeps what it loaded: batches are planned from the list on screen.
            table, catalog = await self.session.load(refresh=True)
            order = (self.sort_column, self.sort_reverse)
            sorted_rows: list[KeyRow] | None = None
            if self.loaded:
                sorted_rows = await sort_rows_gently(list(table), *order, now, self.sort_figure())
            self._take(table, catalog, now, order, sorted_rows)
            # 100,000 rows are long-lived: without this, each full garbage collection walks
            # them all and holds the UI for ~150 ms (measured mid-batch). Frozen objects are
            # still freed by reference counting when a reload drops them; rows hold no cycles.
            gc.freeze()

    def _take(
        self,
        table: KeyTable,
        catalog: AccountCatalog,
        now: float,
        order: tuple[SortColumn, bool],
        sorted_rows: list[KeyRow] | None,
    ) -> None:
        """What was read takes the place of what was shown; marks of keys gone are dropped."""
        self._replaced += self.table.rows
        self.table, self.catalog = table, catalog
        self._binding_text.clear()
        if self.loaded:
            self.selection.keep_only(table.by_id)
        self.loaded = True
        self.loads += 1
        self.loaded_at = self.checked_at = now
        if sorted_rows is not None and order == (self.sort_column, self.sort_reverse):
            self.sorted_rows = sorted_rows
        else:
            self.resort(now)  # the first load (nothing on screen yet), or the sort changed

    async def free_replaced_rows(self) -> None:
        """Lets go of the rows the last reload replaced, a slice per event-loop turn: called
        once nothing shows them any more, so each slice frees its rows there and then."""
        await free_gently(self._replaced)

    def deleted_count(self) -> int:
        """Soft-deleted keys in the loaded table (one pass at C speed: ~2 ms at 100,000 keys)."""
        return sum(map(attrgetter("is_deleted"), self.table.rows))

    def take_changes(self, changed: dict[str, KeyRow | None], now: float) -> None:
        """Rows the live refresh read again: the rows themselves took the new values (the
        session's table updates them in place); a key that is gone leaves the sorted list
        and loses its mark."""
        self.checked_at = now
        gone = {key_id for key_id, row in changed.items() if row is None}
        if gone:
            self.sorted_rows = [row for row in self.sorted_rows if row.id not in gone]
            self.selection.marked.difference_update(gone)

    def resort(self, now: float) -> None:
        self.sorted_rows = sort_rows(
            list(self.table), self.sort_column, self.sort_reverse, now, self.sort_figure()
        )

    def sort_figure(self) -> RowFigure | None:
        """The usage figure the list is sorted by (None for a sort on the rows' own fields)."""
        name = USAGE_SORTS.get(self.sort_column)
        return self.live.sort_key(name) if name is not None else None

    async def resort_gently(self, now: float) -> bool:
        """Sorts again a slice per event-loop turn (after a usage read, when the sort is on
        usage); False when the sort changed meanwhile and the result was dropped."""
        order, loads = (self.sort_column, self.sort_reverse), self.loads
        rows = await sort_rows_gently(list(self.table), *order, now, self.sort_figure())
        if order != (self.sort_column, self.sort_reverse) or loads != self.loads:
            return False  # a new sort or a new list (sorted by its own load) came meanwhile
        self.sorted_rows = rows
        return True

    def compile(self, text: str, now: float) -> KeyQuery:
        return self.session.query(text, now=now)

    def describe_bindings(self, row: KeyRow) -> str:
        # Rows share binding tuples, so this cache holds one entry per distinct binding set.
        text = self._binding_text.get(row.bindings)
        if text is None:
            labels = binding_labels(row, self.catalog)
            text = printable(" ".join(f"{name}:{label}" for name, label in labels)) or "-"
            self._binding_text[row.bindings] = text
        return text

    def marked_ids(self) -> list[str]:
        """Marked keys in list order (what previews and batches use)."""
        by_id = self.table.by_id
        return sorted(
            (key_id for key_id in self.selection.marked if key_id in by_id),
            key=lambda key_id: by_id[key_id].name_folded,
        )

    def marked_rows(self) -> list[KeyRow]:
        by_id = self.table.by_id
        return [by_id[key_id] for key_id in self.marked_ids()]

    def tag_counts(self, rows: list[KeyRow]) -> Counter[str]:
        return Counter(tag for row in rows for tag in row.tags)

    def known_tags(self) -> list[str]:
        return sorted({tag for row in self.table for tag in row.tags})

    def binding_name(self, binding_field: BindingField, raw: str) -> str:
        """A stored binding value as the account or group name alone ("" for none)."""
        if not raw:
            return ""
        try:
            return printable(self.catalog.describe(parse_binding(binding_field, raw)))
        except BadBinding:
            return printable(f"damaged {raw!r}")

    def readable_change(self, text: str) -> str:
        """A preview's "field=value; …" with binding fields named as the operator knows them
        (console=console-shared, not claudeConsoleAccountId=<uuid>)."""
        parts = []
        for part in text.split("; "):
            name, sep, value = part.partition("=")
            field = BINDING_FIELDS.get(name)
            if sep and field is not None:
                # "∅" is how a preview writes an emptied field: for a binding, the shared pool.
                named = self.binding_name(field, "" if value == "∅" else value)
                part = f"{FIELD_SHORT_NAMES[field]}={named or 'shared pool'}"
            parts.append(part)
        return "; ".join(parts)

    def describe_binding(self, binding_field: BindingField, raw: str) -> str:
        """A stored binding value as the account or group it points at, raw value beside it."""
        try:
            described = self.catalog.describe(parse_binding(binding_field, raw))
        except BadBinding:
            described = "damaged"
        return printable(f"{described}  ({raw})")
