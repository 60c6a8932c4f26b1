"""What every keyops screen shares: access to the app's console data, its palette commands,
and the read-only rule for mutating actions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from textual.screen import ModalScreen, Screen
from textual.worker import Worker

if TYPE_CHECKING:
    from tui.app import KeyopsApp
    from tui.console_data import ConsoleData


@dataclass(frozen=True, slots=True)
class PaletteCommand:
    title: str
    help: str
    run: Callable[[], Any]
    mutating: bool = False


class ConsoleScreenMixin:
    """Screens say which of their actions write to Redis; read-only sessions disable those."""

    MUTATING_ACTIONS: frozenset[str] = frozenset()
    HELP_TEXT = ""

    @property
    def keyops(self) -> KeyopsApp:
        from tui.app import KeyopsApp

        app = self.app  # type: ignore[attr-defined]
        assert isinstance(app, KeyopsApp)
        return app

    @property
    def data(self) -> ConsoleData:
        data = self.keyops.data
        assert data is not None, "console data is set once the session is open"
        return data

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.MUTATING_ACTIONS and self.keyops.read_only:
            return None  # shown greyed out in the footer, and does nothing
        return True

    def palette_commands(self) -> list[PaletteCommand]:
        return []

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Worker state messages do not bubble: each screen hands failures to the app's one
        # error modal, so a failed background task is never silent.
        self.keyops.worker_failed(event)


class ConsoleScreen(ConsoleScreenMixin, Screen[None]):
    pass


T = TypeVar("T")


class ConsoleModal(ConsoleScreenMixin, ModalScreen[T]):
    pass
