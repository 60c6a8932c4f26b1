"""How screens write times and long values in tables and titles."""

from __future__ import annotations

import time


def when(epoch: float | None) -> str:
    """An epoch time as UTC minutes ("2026-11-27 03:00"); a dash when there is none."""
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(epoch)) if epoch else "—"


def short(value: str | None, width: int = 40) -> str:
    """A value cut to `width` characters with an ellipsis; ∅ for a field that was absent."""
    if value is None:
        return "∅"
    return value if len(value) <= width else value[: width - 1] + "…"
