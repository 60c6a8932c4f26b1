"""The keyops Textual application and its factories (tests build the real app through them).

App-wide keys: `ctrl+p` or `:` opens the command palette [app.palette, app.palette_colon], `?` or `f1` shows
help for the current screen [app.help], `ctrl+q` quits [app.quit] (during a batch it asks
first; a second `ctrl+q` cancels the batch, then quits once it has ended).

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
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.dom import DOMNode
from textual.reactive import var
from textual.screen import Screen
from textual.worker import Worker, WorkerState

import keyops.tui
from keyops.core.api import CLOCK, ConnectionFailed, KeyopsError, RedisSettings, utc_text
from keyops.tui.commands import ConsoleCommands
from keyops.tui.config import UiConfig
from keyops.tui.console_data import ConsoleData
from keyops.tui.context import BatchFinished, Clock, ConsoleContext, StartBatch
from keyops.tui.screens.base import ConsoleScreenMixin
from keyops.tui.screens.error import ErrorScreen
from keyops.tui.screens.key_list import KeyListScreen
from keyops.tui.selection import Selection
from keyops.tui.sources import SessionOpener, demo_opener, redis_opener
from keyops.tui.terminal import HangupSafeDriver

if TYPE_CHECKING:
    from keyops.core.api import BatchConfig, BatchPlan

HEALTH_CHECK_SECONDS = 5.0
# While Redis is lost a probe tries again after 2 s, then waits twice as long each time up to
# 10 s: an operator sees the console back within seconds of Redis, and a long outage costs a
# PING every 10 s.
RECONNECT_FIRST_SECONDS = 2.0
RECONNECT_MAX_SECONDS = 10.0
# A batch cut off from Redis cannot drop its lock lease, so its operation counts as running
# (not interrupted) until the lease expires (30 s by default): the console looks again this
# often, this long, to offer its recovery as soon as it can be recovered.
LEASE_POLL_SECONDS = 2.0
LEASE_WAIT_SECONDS = 40.0
# A second ctrl+q within this many seconds quits during a batch (after cancelling it).
QUIT_AGAIN_SECONDS = 5.0
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
        # Both shown only at the footer's right edge (ConsoleFooter), where 80 columns never cut them.
        Binding("colon", "command_palette", "Palette", show=False, id="app.palette_colon"),
        Binding("question_mark,f1", "help", "Help", show=False, id="app.help"),
    ]

    # Screens watch these (ConsoleContext names them) instead of the app calling into screens.
    # init=False: watchers hear changes only, not the defaults the app sets when it mounts
    # (the key list would otherwise read every key a second time at start).
    lost_connection: var[str] = var("", init=False)
    reconnect_every: var[float] = var(RECONNECT_FIRST_SECONDS, init=False)
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
        self.lost_at = 0.0  # when Redis stopped answering (the clock's epoch seconds)
        self.interrupted_here: set[str] = set()  # ops this console's batches left open
        self._reconnecting: Worker[None] | None = None
        self._sub_title_before_loss = ""
        self.read_only_reason = "--read-only" if read_only else ""
        self.stopping = 0  # once a stop signal came: the exit code, when the batch has ended
        self.batches_running = 0  # progress screens whose batch has not ended
        self._quit_asked_at = float("-inf")  # when ctrl+q last asked to quit during a batch
        self._quitting = False  # a confirmed ctrl+q waits for the batch to end
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

    async def action_quit(self) -> None:
        """Quit, but never walk away from a running batch: the first ctrl+q says what quitting
        does; a second one within QUIT_AGAIN_SECONDS cancels the batch as the cancel key does
        (an atomic one rolls back) and exits once it has ended, so no operation is left
        interrupted and its keys locked."""
        if not self.batches_running:
            self.exit(return_code=self.stopping)
            return
        if self.stopping:
            return  # already cancelling, to exit
        now = time.monotonic()  # the operator's rhythm, not the data's clock
        if now - self._quit_asked_at > QUIT_AGAIN_SECONDS:
            self._quit_asked_at = now
            self.notify(
                "a batch is running: ctrl+q again cancels it (an atomic batch rolls back) and "
                "quits once it has ended; esc stays",
                title="Quit?",
                severity="warning",
                timeout=QUIT_AGAIN_SECONDS,
            )
            return
        log.warning("quit asked during a batch: cancelling it, then leaving the console")
        self.stopping = 0
        self._quitting = True
        self.stop_requested = "you quit; the console exits when the batch has ended"

    # -- connection ------------------------------------------------------------------------------

    def connection_problem(self, problem: str) -> None:
        """Redis stopped answering: say so (the key list's banner) and probe until it is back."""
        if not self.lost_connection:
            self.lost_at = self.clock()
            log.warning("Redis lost: %s", problem)
            # Every screen's header says it, not only the key list's banner.
            self._sub_title_before_loss = self.sub_title
            self.sub_title += f" · REDIS LOST at {utc_text(self.lost_at, CLOCK)}"
        self.lost_connection = problem
        if self._reconnecting is None or self._reconnecting.is_finished:
            self._reconnecting = self.reconnect()

    def connection_back(self) -> None:
        if self.lost_connection:
            log.warning("Redis answers again")
            self.sub_title = self._sub_title_before_loss
            # The key list, watching, drops its banner and reloads (marks by key id are kept).
            self.lost_connection = ""

    @work(exclusive=True, group="reconnect", exit_on_error=False, description="Reconnecting")
    async def reconnect(self) -> None:
        delay = RECONNECT_FIRST_SECONDS
        while self.lost_connection:
            self.reconnect_every = delay
            await asyncio.sleep(delay)
            if await self._answers():
                self.connection_back()
                return
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _answers(self) -> bool:
        try:
            if self.data is None:  # never reached it: open the session now
                await self.open_data()
            else:
                await self.data.session.ping()
        except KeyopsError:
            return False
        return True

    @work(exclusive=True, group="health", exit_on_error=False, description="Checking Redis")
    async def check_connection(self) -> None:
        if self.data is None:
            return
        try:
            await self.data.session.ping()
        except ConnectionFailed as error:
            if not self.lost_connection:
                self.connection_problem(str(error))
            return
        self.connection_back()

    def report_failure(self, doing: str, error: KeyopsError, *, background: bool = False) -> None:
        """A call to Redis that writes nothing (a read, a plan) failed: say what failed and why.

        What the operator asked for gets a dialog. A background read that meets a lost
        connection gets a notification the first time (the banner then stays until Redis is
        back, and the screen says it where it shows the data): dialogs piling up under each
        other were what the operator's next enter landed on."""
        if not isinstance(error, ConnectionFailed):
            self._show_error(f"{doing} failed: {error}")
            return
        known = bool(self.lost_connection)
        self.connection_problem(str(error))
        why = str(error).rstrip(".")
        if background:
            if not known:
                self.notify(
                    f"{doing} failed: {why}. Retrying; marks are kept.",
                    title="Redis is not answering",
                    severity="error",
                )
            return
        marks = len(self.selection)
        self._show_error(
            f"{doing} failed: {why} — nothing was written.\n"
            f"keyops tries again every {self.reconnect_every:g} s and reloads the keys when "
            f"Redis answers; {marks} marked key{'' if marks == 1 else 's'} stay marked.",
            title="Redis is not answering",
        )

    def _show_error(self, message: str, title: str = "Error") -> None:
        top = self.screen
        if isinstance(top, ErrorScreen) and top.message == message:
            return  # the same failure twice (two workers met it): one dialog
        self.push_screen(ErrorScreen(message, title))

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
        if self.stopping or self._quitting:  # planned just as the console was told to stop
            return
        if not plan.plans and start is None:
            self.notify("Nothing to change: every key already has what you asked for.")
            return

        # The batch screens (and the engine they show) are imported when a batch is first
        # confirmed: the key list starts without them.
        from keyops.tui.screens.confirm import BatchConfirmScreen
        from keyops.tui.screens.progress import ProgressScreen

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

    @on(BatchFinished)
    def batch_finished(self, message: BatchFinished) -> None:
        """After a batch, what Redis holds may have changed: the key list, watching, reloads."""
        from keyops.core.api import OpStatus  # the batch that ran has imported it already

        outcome = message.outcome
        if outcome is None or outcome.status is OpStatus.RUNNING:
            # Cut short (Redis lost mid-batch): once Redis answers, the reload offers its
            # recovery again, even if an earlier one was put off.
            self.recovery_offered = False
            if outcome is not None:
                self.interrupted_here.add(outcome.op_id)
        if outcome is None or outcome.status in (OpStatus.RUNNING, OpStatus.REFUSED):
            # Perhaps because Redis is gone: find out now, not at the next health check.
            self.check_connection()
        if (
            outcome is not None
            and outcome.op_id
            and outcome.counts.applied > outcome.counts.rolled_back
        ):
            self.last_op_id = outcome.op_id
        self.finished_batches += 1
        self.batches_running = max(0, self.batches_running - 1)
        if (self.stopping or self._quitting) and not self.batches_running:
            self.exit(return_code=self.stopping)  # a stop signal or a quit waited for this

    # -- recovery --------------------------------------------------------------------------------

    def offer_recovery(self) -> None:
        if not self.recovery_offered:
            self.recovery_offered = True
            self._offer_recovery()

    @work(exclusive=True, group="recovery", exit_on_error=False,
          description="Looking for interrupted operations")  # fmt: skip
    async def _offer_recovery(self) -> None:
        if self.data is None:
            return
        deadline = time.monotonic() + LEASE_WAIT_SECONDS
        while not (interrupted := await self.data.session.recoveries()):
            if not self.interrupted_here or time.monotonic() > deadline:
                return
            await asyncio.sleep(LEASE_POLL_SECONDS)  # our own op, until its lease expires
        self.interrupted_here.clear()
        from keyops.tui.screens.recovery import RecoveryScreen  # rarely needed: not at start

        self.push_screen(RecoveryScreen(interrupted[0], more=len(interrupted) - 1))

    # -- help, palette, errors -------------------------------------------------------------------

    def action_help(self) -> None:
        from keyops.tui.screens.help import HelpScreen  # imported when first asked for

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Offered on every screen, dialogs included, each with its key."""
        yield SystemCommand("Help", "? · Keys and help for this screen", self.action_help)
        # Named without importing the operations screen: it is imported when pushed.
        offered = isinstance(screen, ConsoleScreenMixin) and screen.OFFERS_OPERATIONS
        if self.data is not None and not offered:
            yield SystemCommand(
                "Operations and audit",
                "o on the key list · Recent operations, audit trail, revert, export",
                self.action_operations,
            )
        yield SystemCommand("Theme", "Change the colour theme", self.action_change_theme)
        yield SystemCommand("Quit", "ctrl+q · Leave keyops", self.action_quit)

    def action_operations(self) -> None:
        from keyops.tui.screens.operations import OperationsScreen  # the engine: not at start

        self.push_screen(OperationsScreen())

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.worker_failed(event)

    def worker_failed(self, event: Worker.StateChanged) -> None:
        """One place turns a failed background task into an error the operator cannot miss."""
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        if isinstance(error, KeyopsError):
            # Workers that call Redis say what they do in their description; Textual's own
            # description is the call ("load_record()"), not words for the operator.
            doing = event.worker.description
            self.report_failure(
                "A background read" if doing.endswith(")") else doing, error, background=True
            )
            return
        self._show_error(f"{type(error).__name__}: {error}")


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
