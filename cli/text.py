"""Terminal text: the width a string takes on screen, padding and clipping by it, and plurals.

Names and tags are often Chinese or Japanese: a wide character fills two terminal cells, so
padding by `len()` pushes every later column out of line. Standard library only (the CLI's short
path imports neither rich nor Textual).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache


@lru_cache(maxsize=4096)
def char_width(char: str) -> int:
    """Cells one character takes: 2 for East Asian wide and fullwidth, 0 for combining marks
    and other zero-width characters, else 1."""
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    if unicodedata.east_asian_width(char) in ("W", "F"):
        return 2
    return 1


def display_width(text: str) -> int:
    if text.isascii():
        return len(text)
    return sum(char_width(char) for char in text)


def pad(text: str, width: int) -> str:
    """`text` followed by spaces up to `width` cells (`str.ljust` by display width)."""
    return text + " " * max(0, width - display_width(text))


def clip(text: str, width: int) -> str:
    """`text` cut to at most `width` cells, ending with … when something was cut."""
    if text.isascii():
        return text if len(text) <= width else text[: width - 1] + "…"
    if display_width(text) <= width:
        return text
    kept: list[str] = []
    used = 0
    for char in text:
        cells = char_width(char)
        if used + cells > width - 1:
            break
        kept.append(char)
        used += cells
    return "".join(kept) + "…"


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`1 key`, `0 keys`, `2 keys`."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"
