"""The footer every console screen uses: Textual's, with `? Help` pinned at the right beside
the palette key. In Textual's footer the app's keys come last and are the first cut at 80
columns, so the one key that explains all the others was the one an operator never saw."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import HorizontalGroup
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

HELP_ACTION = "help"


class ConsoleFooter(Footer):
    DEFAULT_CSS = """
    ConsoleFooter HorizontalGroup.-pinned { dock: right; width: auto; }
    ConsoleFooter HorizontalGroup.-pinned FooterKey.-command-palette { dock: none; }
    """

    def compose(self) -> ComposeResult:
        pinned: list[Widget] = []
        for widget in super().compose():
            if widget.has_class("-command-palette"):
                pinned.append(widget)  # docked with help below: two docked keys would overlap
            else:
                yield widget
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
        if pinned:
            yield HorizontalGroup(*pinned, classes="-pinned")
