"""The command palette (`ctrl+p` or `:`): every action of the current screen, by name, with
the key that runs it.

Screens list their actions in `palette_commands()`; the ones that write (their key is a
WriteBinding) are left out of a read-only session, so the palette never offers what would be
refused. The app's own actions (help, operations, theme, quit) are offered on every screen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

from keyops.tui.screens.base import ConsoleScreenMixin


def key_for(screen: Screen[Any], run: Callable[[], Any]) -> str:
    """The key that runs this action on the screen now ("" when none does)."""
    name: str = getattr(run, "__name__", "")
    if not name.startswith("action_"):
        return ""
    action = name.removeprefix("action_")
    for key, active in screen.active_bindings.items():
        if active.binding.action.partition("(")[0] == action:
            return screen.app.get_key_display(active.binding) if len(key) > 1 else key
    return ""


def with_key(key: str, help_text: str) -> str:
    if key and help_text:
        return f"{key} · {help_text}"
    return key or help_text


class ConsoleCommands(Provider):
    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        screen = self.screen
        # A modal palette opens over the screen it was called from.
        if not isinstance(screen, ConsoleScreenMixin):
            return []
        return [
            (command.title, with_key(key_for(screen, command.run), command.help), command.run)
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
