"""Stored text on a screen: control characters as visible escapes, and never Rich markup.

A key name, tag, account name or audit value is whatever Redis holds. Handed to Textual as a
plain string it would be read as Rich markup (`[/b]` in a name crashed the detail screen) and
its escape sequences would go to the terminal. Every screen shows such text through `shown`
(a Rich Text: no markup) or `printable` (for a string that goes into one).
"""

from __future__ import annotations

from rich.markup import escape
from rich.text import Text

from keyops.core.api import printable

__all__ = ["cell", "printable", "shown"]


def shown(text: str, style: str = "") -> Text:
    return Text(printable(text), style=style)


def cell(text: str) -> str:
    """Stored text for a DataTable cell, which reads strings as markup: escaped for both."""
    return escape(printable(text))
