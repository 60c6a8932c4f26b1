"""What every keyops screen shares: access to the app's console data, its palette commands,
and the read-only rule for mutating actions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.worker import Worker

from keyops.core.api import BatchPlan

if TYPE_CHECKING:
    from keyops.tui.app import KeyopsApp
    from keyops.tui.console_data import ConsoleData


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
        from keyops.tui.app import KeyopsApp

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


def plan_still_valid(plan: BatchPlan | None, request: BaseModel) -> BatchPlan | None:
    """The previewed plan, if it was made for exactly this request (so apply runs what the
    operator saw); None when the form changed since and a fresh plan is needed."""
    if plan is not None and plan.params == request.model_dump(mode="json"):
        return plan
    return None


class PreviewModal(ConsoleModal[None]):
    """A form over the marked keys whose preview is planned again shortly after each edit
    (planning 100,000 keys on every keystroke would make typing lag)."""

    PREVIEW_DELAY_SECONDS = 0.25

    def __init__(self, key_ids: list[str]) -> None:
        super().__init__()
        self.key_ids = key_ids
        self.plan: BatchPlan | None = None
        self._preview_timer: Timer | None = None

    def schedule_preview(self) -> None:
        self.plan = None
        if self._preview_timer is not None:
            self._preview_timer.stop()
        self._preview_timer = self.set_timer(self.PREVIEW_DELAY_SECONDS, self.refresh_preview)

    def refresh_preview(self) -> None:
        raise NotImplementedError

    def action_close(self) -> None:
        self.dismiss(None)
