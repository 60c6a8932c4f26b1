"""How screens write times and long values in tables and titles."""

from __future__ import annotations

from rich.cells import cell_len, set_cell_size

from keyops.core.api import MINUTE, utc_text
from keyops.tui.shown import cell


def when(epoch: float | None) -> str:
    """An epoch time as UTC minutes ("2026-11-27 03:00"); a dash when there is none."""
    return utc_text(epoch or None, MINUTE, missing="—")


def short(value: str | None, width: int = 40) -> str:
    """A stored value for a table cell: cut to `width` characters with an ellipsis, control
    characters as escapes and markup escaped (a DataTable reads a string as markup); ∅ for a
    field that was absent."""
    if value is None:
        return "∅"
    return cell(value if len(value) <= width else value[: width - 1] + "…")


def cut_middle(text: str, width: int) -> str:
    """`text` in at most `width` cells, cut in the middle: names of a fleet share their start
    (team-a-app-00012…) and differ at the end, so an end cut shows several as the same."""
    if cell_len(text) <= width:
        return text
    if width < 5:
        return set_cell_size(text, max(width - 1, 0)) + "…"
    tail_width = (width - 1) // 2
    tail, used = "", 0
    for char in reversed(text):
        if used + cell_len(char) > tail_width:
            break
        tail, used = char + tail, used + cell_len(char)
    return set_cell_size(text, width - 1 - used) + "…" + tail
