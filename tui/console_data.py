"""What the console holds between screens: the loaded keys, the account catalog and the marks.

The screens read and change this; it reaches Redis only through the core's session, never with
a client of its own.
"""

from __future__ import annotations

import gc
from collections import Counter

from keyops.core.api import (
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
from keyops.tui.selection import Selection
from keyops.tui.widgets.key_list_view import SortColumn, sort_rows


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

    async def load(self, now: float) -> None:
        """(Re)reads every key and account; marks of keys that still exist are kept."""
        # Screens closed since (a preview, a confirm, a progress screen: cycles holding a
        # 100,000-key plan) are freed before the new rows are made: rows made while that
        # garbage waits land between its objects, and the memory stays taken once it is freed
        # (RSS grew ~40 MB a batch; bench/batch_rss). Cheap: the loaded rows are frozen.
        gc.collect()
        # The session keeps what it loaded: batches are planned from the list on screen.
        table, catalog = await self.session.load(refresh=True)
        self.table, self.catalog = table, catalog
        self._binding_text.clear()
        if self.loaded:
            self.selection.keep_only(table.by_id)
        self.loaded = True
        self.resort(now)
        # 100,000 rows are long-lived: without this, each full garbage collection walks them
        # all and holds the UI for ~150 ms (measured mid-batch). Frozen objects are still freed
        # by reference counting when a reload drops them; rows hold no cycles.
        gc.freeze()

    def resort(self, now: float) -> None:
        self.sorted_rows = sort_rows(list(self.table), self.sort_column, self.sort_reverse, now)

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

    def describe_binding(self, binding_field: BindingField, raw: str) -> str:
        """A stored binding value as the account or group it points at, raw value beside it."""
        try:
            described = self.catalog.describe(parse_binding(binding_field, raw))
        except BadBinding:
            described = "damaged"
        return printable(f"{described}  ({raw})")
