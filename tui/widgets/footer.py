"""The footer every console screen uses: Textual's, with `? Help` pinned at the right beside
the palette key. In Textual's footer the app's keys come last and are the first cut at 80
columns, so the one key that explains all the others was the one an operator never saw.

A screen may also rank its keys (`FOOTER_FIRST`, actions, most needed first): the footer then
shows the keys that fit the terminal's width in that rank, in their usual order, instead of
letting the right edge cut whichever came last (at 80 columns the key list lost `f Fields`
and showed half of `a Accounts`). Help and the palette list every key, shown or not.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from textual import events
from textual.app import ComposeResult
from textual.containers import HorizontalGroup
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

HELP_ACTION = "help"
# The columns around a key's text: a space before the key, one between it and its
# description, one after (Textual's FooterKey padding).
KEY_PADDING = 3
# The pinned group's separator and the cell the right edge keeps free.
PINNED_EXTRA = 2


def key_width(key: FooterKey) -> int:
    return len(key.key_display) + len(key.description) + KEY_PADDING


def fitting(keys: list[Widget], first: Iterable[str], width: int) -> list[Widget]:
    """The keys to show in `width` columns: the ranked actions first, then the rest in order,
    each taken while it fits; returned in the footer's own order."""
    rank = {action: position for position, action in enumerate(first)}
    by_rank = sorted(
        range(len(keys)),
        key=lambda i: rank.get(getattr(keys[i], "action", ""), len(rank) + i),
    )
    kept: set[int] = set()
    used = 0
    for index in by_rank:
        key = keys[index]
        size = key_width(key) if isinstance(key, FooterKey) else 0
        if used + size <= width:
            kept.add(index)
            used += size
    return [key for index, key in enumerate(keys) if index in kept]


class ConsoleFooter(Footer):
    DEFAULT_CSS = """
    ConsoleFooter HorizontalGroup.-pinned { dock: right; width: auto; }
    ConsoleFooter HorizontalGroup.-pinned FooterKey.-command-palette { dock: none; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._fitted_width = 0
        self._composed: Hashable = None  # what the keys shown were composed from

    def shown_keys(self) -> Hashable:
        """What the footer's keys are made of: the bindings it shows, whether each is enabled,
        and the width a ranked footer fits them in."""
        palette = self.app.COMMAND_PALETTE_BINDING
        return self.app.size.width, tuple(
            (key, binding.action, binding.description, binding.key_display, enabled, tooltip)
            for key, (_, binding, enabled, tooltip) in self.screen.active_bindings.items()
            if binding.show or binding.action == HELP_ACTION or key == palette
        )

    async def recompose(self) -> None:
        # Textual recomposes the footer after every bindings refresh (each focus or screen
        # stack change: five as the console starts, ~20 ms of CPU each); one that would show
        # the keys already shown is skipped.
        if self.is_attached and self._bindings_ready and self.shown_keys() == self._composed:
            return
        await super().recompose()

    def compose(self) -> ComposeResult:
        self._composed = self.shown_keys() if self._bindings_ready else None
        pinned: list[FooterKey] = []
        keys: list[Widget] = []
        for widget in super().compose():
            if widget.has_class("-command-palette") and isinstance(widget, FooterKey):
                pinned.append(widget)  # docked with help below: two docked keys would overlap
            else:
                keys.append(widget)
        # Found by its action, not its key: a [keymap] may have moved help to another key.
        active = next(
            (a for a in self.screen.active_bindings.values() if a.binding.action == HELP_ACTION),
            None,
        )
        if self._bindings_ready and active is not None:
            _, binding, enabled, _ = active
            help_key = FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                disabled=not enabled,
            ).data_bind(compact=Footer.compact)
            pinned.insert(0, help_key)
        first: tuple[str, ...] = getattr(self.screen, "FOOTER_FIRST", ())
        if first:
            self._fitted_width = self.app.size.width
            room = self._fitted_width - sum(key_width(key) for key in pinned) - PINNED_EXTRA
            keys = fitting(keys, first, room)
        yield from keys
        if pinned:
            yield HorizontalGroup(*pinned, classes="-pinned")

    def on_resize(self, event: events.Resize) -> None:
        # A ranked footer chose its keys for one width: choose again for the new one.
        if self._fitted_width and self.app.size.width != self._fitted_width:
            self.refresh(recompose=True)
