"""What every keyops screen shares: the console context, its palette commands, and the
read-only rule for the actions that write."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from rich.text import Text
from textual import events, on
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widgets import Header, Static
from textual.worker import Worker

from keyops.core.api import ConnectionFailed, KeyopsError
from keyops.tui.collector import note_closed_screen
from keyops.tui.console_data import ConsoleData
from keyops.tui.context import CONNECTION_LOST, ConsoleContext
from keyops.tui.shown import shown

if TYPE_CHECKING:
    from pydantic import BaseModel
    from textual.binding import BindingsMap

    from keyops.core.api import BatchPlan


class WriteBinding(Binding):
    """A key whose action writes to Redis. Declaring the key this way is the one place that
    makes its action off in a read-only session: gone from the footer, marked in help, left out
    of the palette, and a press says why nothing happens."""


def writing_actions(bindings: Iterable[BindingType]) -> frozenset[str]:
    """The action names (without arguments) of the write bindings among these."""
    return frozenset(
        binding.action.partition("(")[0]
        for binding in bindings
        if isinstance(binding, WriteBinding)
    )


@dataclass(frozen=True, slots=True)
class PaletteCommand:
    """One line of the command palette. A command that writes runs one of the screen's
    actions (`run=self.action_...`), so the action's WriteBinding tells the palette it writes."""

    title: str
    help: str
    run: Callable[[], Any]


class ConsoleScreenMixin:
    """Screens declare the keys that write with `WriteBinding`; read-only sessions disable those."""

    # Derived from the screen's bindings when the class is made; never written by hand.
    MUTATING_ACTIONS: frozenset[str] = frozenset()
    HELP_TEXT = ""
    HELP_TITLE = ""  # what the help calls the screen, in words (never a class name)
    # The screen's own palette offers "Operations and audit" (or is that screen), so the
    # app's command of that name is left out there.
    OFFERS_OPERATIONS = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Textual splits "a,b" bindings into plain Binding objects when it builds its binding
        # maps, so the WriteBinding kind is read here, from the BINDINGS the class declares.
        cls.MUTATING_ACTIONS = cls.MUTATING_ACTIONS | writing_actions(vars(cls).get("BINDINGS", ()))

    @property
    def keyops(self) -> ConsoleContext:
        """The console this screen runs in (the app, seen only through ConsoleContext)."""
        return cast(ConsoleContext, self.app)  # type: ignore[attr-defined]

    @property
    def data(self) -> ConsoleData:
        data = self.keyops.data
        assert data is not None, "console data is set once the session is open"
        return data

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A write action in a read-only session: off the footer, and does nothing (on_key
        # says why).
        return not (action in self.MUTATING_ACTIONS and self.keyops.read_only)

    def on_key(self, event: events.Key) -> None:
        """A write key pressed in a read-only session: its binding is off, so the key reaches
        here; say why nothing happens instead of ignoring it."""
        if not self.keyops.read_only:
            return
        bindings: BindingsMap = self._bindings  # type: ignore[attr-defined]
        for binding in bindings.key_to_bindings.get(event.key, ()):
            if binding.action.partition("(")[0] in self.MUTATING_ACTIONS:
                what = (binding.description or binding.action).lower()
                self.notify(self.keyops.read_only_refusal(what), severity="warning")  # type: ignore[attr-defined]
                event.stop()
                return

    def palette_commands(self) -> list[PaletteCommand]:
        """By default the screen's own keys, by their descriptions (a dialog's Apply, Close)."""
        commands = []
        for binding in vars(type(self)).get("BINDINGS", ()):
            if not isinstance(binding, Binding) or "(" in binding.action:
                continue
            run = getattr(self, f"action_{binding.action}", None)
            if run is not None and binding.description:
                commands.append(PaletteCommand(binding.description, "", run))
        return commands

    def offers(self, command: PaletteCommand) -> bool:
        """Whether the palette offers a command now: not one that writes in a read-only session."""
        if not self.keyops.read_only:
            return True
        name: str = getattr(command.run, "__name__", "")
        return not (
            name.startswith("action_") and name.removeprefix("action_") in self.MUTATING_ACTIONS
        )

    def on_unmount(self) -> None:
        """Textual drops a watcher of the app's reactives only when that reactive next changes:
        one that rarely does (stop_requested) kept every closed progress screen alive, with all
        it held (bench/batch_rss). A closed screen's watchers go with it, and the next reload
        frees what it held."""
        note_closed_screen()
        watchers: dict[str, list[tuple[object, object]]] = getattr(self.app, "__watchers", {})  # type: ignore[attr-defined]
        for watcher_list in watchers.values():
            watcher_list[:] = [entry for entry in watcher_list if entry[0] is not self]

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Worker state messages do not bubble: each screen hands failures to the app's one
        # error modal, so a failed background task is never silent.
        self.keyops.worker_failed(event)


def read_only_banner_text(console: ConsoleContext) -> str:
    reason = console.read_only_reason
    return "READ-ONLY session: nothing is written" + (
        f" ({reason})" if reason and reason != "--read-only" else ""
    )


class ConsoleScreen(ConsoleScreenMixin, Screen[None]):
    @on(events.Mount)
    def show_read_only_banner(self) -> None:
        """Every screen says the session is read-only, under its header (the key list has its
        own banner, which also carries index drift and a lost connection)."""
        if not self.keyops.read_only or self.query("#banner"):
            return
        banner = Static(read_only_banner_text(self.keyops), id="read-only-banner")
        headers = self.query(Header)
        if headers:
            self.mount(banner, after=headers.first())
        else:
            self.mount(banner, before=0)


T = TypeVar("T")


class ConsoleModal(ConsoleScreenMixin, ModalScreen[T]):
    pass


def failure_text(what: str, error: KeyopsError) -> Text:
    """A form's line for a read that failed ("cannot preview: Redis at … is not answering")."""
    text = shown(f"{what}: {error}", "bold red")
    if isinstance(error, ConnectionFailed):
        text.append(" — nothing was written; the preview comes back with Redis", style="")
    return text


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

    def on_mount(self) -> None:
        self.watch(self.app, CONNECTION_LOST, self.connection_changed, init=False)

    def connection_changed(self, was_lost: str, lost: str) -> None:
        if was_lost and not lost:
            self.schedule_preview()  # Redis is back: the preview it could not read

    def schedule_preview(self) -> None:
        self.plan = None
        if self._preview_timer is not None:
            self._preview_timer.stop()
        self._preview_timer = self.set_timer(self.PREVIEW_DELAY_SECONDS, self.refresh_preview)

    def refresh_preview(self) -> None:
        raise NotImplementedError

    def action_close(self) -> None:
        self.dismiss(None)
