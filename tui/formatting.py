"""How screens write times and long values in tables and titles."""

from __future__ import annotations

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
