"""The keyops Textual application and its factories (tests build the real app through them).

App-wide keys: `ctrl+p` or `:` opens the command palette [app.palette, app.palette_colon], `?` or `f1` shows
help for the current screen [app.help], `ctrl+q` quits [app.quit].

SIGHUP (the SSH link dropped) and SIGTERM end the console as the cancel key ends a batch: a
running batch is cancelled (an atomic one rolls back), and the console exits once it has
ended, with 128 + the signal's number; with no batch running it exits at once. Textual left
both to kill the process, mid-batch. A terminal that fails under the console (tui/terminal.py)
counts as a hang-up.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import pkgutil
import signal
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.dom import DOMNode
from textual.reactive import var
from textual.screen import Screen
from textual.worker import Worker, WorkerState

import keyops.tui
from keyops.core.api import BatchConfig, BatchPlan, ConnectionFailed, KeyopsError, RedisSettings
from keyops.tui.commands import ConsoleCommands
from keyops.tui.config import UiConfig
from keyops.tui.console_data import ConsoleData
from keyops.tui.context import Clock, ConsoleContext, StartBatch
from keyops.tui.screens.confirm import BatchConfirmScreen
from keyops.tui.screens.error import ErrorScreen
from keyops.tui.screens.help import HelpScreen
from keyops.tui.screens.key_list import KeyListScreen
from keyops.tui.screens.progress import ProgressScreen
from keyops.tui.screens.recovery import RecoveryScreen
from keyops.tui.selection import Selection
from keyops.tui.sources import SessionOpener, demo_opener, redis_opener
from keyops.tui.terminal import HangupSafeDriver

HEALTH_CHECK_SECONDS = 5.0
STOP_SIGNALS = (signal.SIGHUP, signal.SIGTERM)
STOP_REASONS = {
    signal.SIGHUP: "the terminal hung up (SIGHUP)",
    signal.SIGTERM: "keyops was asked to stop (SIGTERM)",
}

log = logging.getLogger("keyops.tui")


class KeyopsApp(App[int]):
    """Holds the session and the marks; screens reach Redis only through core services.

    Screens see it as a `ConsoleContext` (keyops.tui.context) and never import this module.
    """

    TITLE = "keyops"
    CSS_PATH = "keyops.tcss"
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit"),
        Binding(
            "ctrl+p", "command_palette", "Palette", show=False, priority=True, id="app.palette"
        ),
        # Not a priority binding: in the filter box a colon is typed (tag:prod), not a command.
        Binding("colon", "command_palette", "Palette", id="app.palette_colon"),
        Binding("question_mark,f1", "help", "Help", id="app.help"),
    ]

    # Screens watch these (ConsoleContext names them) instead of the app calling into screens.
    # init=False: watchers hear changes only, not the defaults the app sets when it mounts
    # (the key list would otherwise read every key a second time at start).
    lost_connection: var[str] = var("", init=False)
    finished_batches: var[int] = var(0, init=False)
    stop_requested: var[str] = var("", init=False)

    def __init__(
        self,
        opener: SessionOpener,
        *,
        read_only: bool = False,
        clock: Clock = time.time,
        config: UiConfig | None = None,
        batch_config: BatchConfig | None = None,
    ) -> None:
        # A terminal that hangs up must not take the running batch with it (tui/terminal.py).
        super().__init__(driver_class=HangupSafeDriver if os.name == "posix" else None)
        self.opener = opener
        self.batch_config = batch_config
        self.read_only = read_only
        self.clock = clock
        self.config = config or UiConfig()
        self.selection = Selection()
        self.data: ConsoleData | None = None
        self.recovery_offered = False
        self.read_only_reason = "--read-only" if read_only else ""
        self.stopping = 0  # once a stop signal came: the exit code, when the batch has ended
        self.batches_running = 0  # progress screens whose batch has not ended
        self.last_op_id = ""  # this console's last operation that left keys changed (`u` undoes it)
        self._signals_before: dict[signal.Signals, Any] = {}  # handlers to put back

    def on_mount(self) -> None:
        self.theme = self.config.theme
        if self.config.keymap:
            self.set_keymap(self.config.keymap)
        self.push_screen(KeyListScreen())
        self.set_interval(HEALTH_CHECK_SECONDS, self.check_connection)
        self._catch_stop_signals()

    async def open_data(self) -> ConsoleData:
        if self.data is None:
            session = await self.opener()
            if self.batch_config is not None:
                session.config = self.batch_config
            self.data = ConsoleData(session, self.selection)
            if not self.read_only:
                access = await session.check_access()
                if access.refused:
                    # Batches would be refused anyway: say so at start, not at the first batch.
                    self.read_only = True
                    self.read_only_reason = access.describe()
            self.sub_title = session.endpoint + (" · READ-ONLY" if self.read_only else "")
        return self.data

    async def on_unmount(self) -> None:
        self._release_stop_signals()
        if self.data is not None:
            await self.data.session.aclose()

    # -- stop signals and a lost terminal --------------------------------------------------------

    def _catch_stop_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            self._signals_before[sig] = signal.getsignal(sig)
            loop.add_signal_handler(sig, self.stop_for, sig)

    def _release_stop_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig, handler in self._signals_before.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._signals_before = {}

    def terminal_gone(self) -> None:
        """Writing to the terminal failed: the link is gone, whether or not SIGHUP came."""
        self.stop_for(signal.SIGHUP)

    def stop_for(self, sig: signal.Signals) -> None:
        """Cancel running batches as the cancel key does and exit once they have ended; exit
        at once when none runs."""
        if sig is signal.SIGHUP and isinstance(self._driver, HangupSafeDriver):
            self._driver.hang_up()
        if self.stopping:
            return
        self.stopping = 128 + int(sig)
        reason = STOP_REASONS[sig]
        log.warning(
            "%s: %s",
            reason,
            "cancelling the running batch" if self.batches_running else "leaving the console",
        )
        if not self.batches_running:
            self.exit(return_code=self.stopping)
            return
        # Progress screens watch this: each cancels its batch without asking.
        self.stop_requested = f"{reason}; the console exits when the batch has ended"

    # -- connection ------------------------------------------------------------------------------

    def connection_problem(self, problem: str) -> None:
        self.lost_connection = problem

    @work(exclusive=True, group="health", exit_on_error=False)
    async def check_connection(self) -> None:
        if self.data is None:
            return
        try:
            await self.data.session.ping()
        except ConnectionFailed as error:
            if not self.lost_connection:
                self.connection_problem(str(error))
            return
        if self.lost_connection:
            self.lost_connection = ""  # the key list, watching, drops its banner and reloads
            self.notify("Redis answers again; keys reloaded, marks kept", title="Reconnected")

    # -- batches ---------------------------------------------------------------------------------

    def run_plan(
        self, plan: BatchPlan, *, confirmed: bool = False, start: StartBatch | None = None
    ) -> None:
        """Confirm a planned batch (typing the count when it is large), then run it.

        `confirmed`: the screen that planned it already showed the counts and the operator said
        go; only a batch over the typed-count threshold asks again.
        """
        if self.read_only:
            self.notify(self.read_only_refusal("running a batch"), severity="warning")
            return
        if self.stopping:  # planned just as the console was told to stop
            return
        if not plan.plans and start is None:
            self.notify("Nothing to change: every key already has what you asked for.")
            return

        def confirmed_now(go: bool | None) -> None:
            if go and self.data is not None:
                session = self.data.session
                runner = start or (lambda cancel: session.run(plan, cancel))
                self.batches_running += 1
                self.push_screen(ProgressScreen(plan.summary, runner))

        if confirmed and len(plan.plans) <= self.config.confirm_typed_above:
            confirmed_now(True)
            return
        self.push_screen(BatchConfirmScreen(plan, self.config.confirm_typed_above), confirmed_now)

    def read_only_refusal(self, what: str) -> str:
        reason = self.read_only_reason
        why = "started with --read-only" if reason in ("", "--read-only") else reason
        return f"Read-only session ({why}): {what} is off, nothing is written"

    @on(ProgressScreen.BatchFinished)
    def batch_finished(self, message: ProgressScreen.BatchFinished) -> None:
        """After a batch, what Redis holds may have changed: the key list, watching, reloads."""
        outcome = message.outcome
        if (
            outcome is not None
            and outcome.op_id
            and outcome.counts.applied > outcome.counts.rolled_back
        ):
            self.last_op_id = outcome.op_id
        self.finished_batches += 1
        self.batches_running = max(0, self.batches_running - 1)
        if self.stopping and not self.batches_running:  # a stop signal waited for this
            self.exit(return_code=self.stopping)

    # -- recovery --------------------------------------------------------------------------------

    def offer_recovery(self) -> None:
        if not self.recovery_offered:
            self.recovery_offered = True
            self._offer_recovery()

    @work(exclusive=True, group="recovery", exit_on_error=False)
    async def _offer_recovery(self) -> None:
        if self.data is None:
            return
        interrupted = await self.data.session.recoveries()
        if not interrupted:
            return
        self.push_screen(RecoveryScreen(interrupted[0], more=len(interrupted) - 1))

    # -- help, palette, errors -------------------------------------------------------------------

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield SystemCommand("Help", "Keys and help for this screen", self.action_help)
        yield SystemCommand("Theme", "Change the colour theme", self.action_change_theme)
        yield SystemCommand("Quit", "Leave keyops", self.action_quit)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.worker_failed(event)

    def worker_failed(self, event: Worker.StateChanged) -> None:
        """One place turns a failed background task into an error the operator cannot miss."""
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        message = (
            str(error) if isinstance(error, KeyopsError) else f"{type(error).__name__}: {error}"
        )
        self.push_screen(ErrorScreen(message))


def _console_is_a_context(app: KeyopsApp) -> ConsoleContext:
    return app  # mypy checks here that the app gives screens everything the protocol promises


def console_classes() -> list[type[DOMNode]]:
    """The app, every screen and every widget keyops defines, found by walking keyops.tui (a new
    module is found without being listed anywhere)."""
    classes: list[type[DOMNode]] = []
    for info in pkgutil.walk_packages(keyops.tui.__path__, prefix="keyops.tui."):
        module = importlib.import_module(info.name)
        classes += [
            value for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, DOMNode) and value.__module__ == module.__name__
        ]  # fmt: skip
    return classes


def known_binding_ids() -> set[str]:
    """Every binding id the console has: what `[keymap]` in the config may remap."""
    ids = set()
    for cls in console_classes():
        for binding in cls.BINDINGS:
            if isinstance(binding, Binding) and binding.id:
                ids.add(binding.id)
    return ids


def make_demo_app(
    key_count: int = 2000,
    *,
    now: datetime | None = None,
    clock: Clock = time.time,
    read_only: bool = False,
    config: UiConfig | None = None,
) -> KeyopsApp:
    return KeyopsApp(demo_opener(key_count, now), clock=clock, read_only=read_only, config=config)


def make_redis_app(
    settings: RedisSettings, *, read_only: bool = False, config: UiConfig | None = None
) -> KeyopsApp:
    return KeyopsApp(redis_opener(settings), read_only=read_only, config=config)
