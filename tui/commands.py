"""The command palette (`ctrl+p` or `:`): every action of the current screen, by name.

Screens list their actions in `palette_commands()`; the ones that write (their key is a
WriteBinding) are left out of a read-only session, so the palette never offers what would be
refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from keyops.tui.screens.base import ConsoleScreenMixin


class ConsoleCommands(Provider):
    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        screen = self.screen
        # A modal palette opens over the screen it was called from.
        if not isinstance(screen, ConsoleScreenMixin):
            return []
        return [
            (command.title, command.help, command.run)
            for command in screen.palette_commands()
            if screen.offers(command)
        ]

    async def discover(self) -> Hits:
        for title, help_text, run in self._commands():
            yield DiscoveryHit(title, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, run in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), run, help=help_text)
