"""What a screen may see of the console it runs in: the console context.

Screens reach the app only through this protocol, never through the app class, so no screen
imports the app module and the app stays free to import every screen. `KeyopsApp` is the one
implementation (mypy proves it where the app is defined); a test may run a screen on any app
that provides these.

Two things the console changes while screens are up are Textual reactives on the app, so a
screen that cares watches them (`self.watch(self.app, CONNECTION_LOST, ...)`) instead of the
app looking for that screen on its stack:

- `lost_connection`: why Redis stopped answering, "" once it answers again (a probe retries
  meanwhile, every `reconnect_every` seconds);
- `finished_batches`: counts batches that ended, so what Redis holds may have changed;
- `stop_requested`: why the console must stop (its terminal hung up, SIGTERM), "" until then:
  a running batch cancels itself, and the console exits once it has ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Protocol

from textual.message import Message
from textual.worker import Worker

from keyops.core.api import KeyopsError
from keyops.tui.config import UiConfig
from keyops.tui.console_data import ConsoleData
from keyops.tui.selection import Selection

if TYPE_CHECKING:
    # Named for type checking only: their modules are the batch engine, which the key list
    # does not need at start (it is imported when a batch is first planned).
    from keyops.core.api import BatchPlan, Outcome, ProgressEvent

Clock = Callable[[], float]
# Runs a batch and reports as it goes; the progress screen shows the events and sets the
# event to cancel.
StartBatch = Callable[[asyncio.Event], AsyncIterator["ProgressEvent"]]

# Names of the app's reactives a screen may watch (see the module doc).
CONNECTION_LOST = "lost_connection"
RECONNECT_EVERY = "reconnect_every"
BATCHES_FINISHED = "finished_batches"
STOP_REQUESTED = "stop_requested"


class BatchFinished(Message):
    """A progress screen's batch ended (whatever its outcome, None if it ended without one):
    what Redis holds may have changed. Sent to the app, which need not import the progress
    screen to hear it."""

    def __init__(self, outcome: Outcome | None) -> None:
        super().__init__()
        self.outcome = outcome


class ConsoleContext(Protocol):
    # Read-only here: the console decides these, screens act on them.
    @property
    def data(self) -> ConsoleData | None:
        """The loaded keys, accounts and marks; None until the session is open."""

    @property
    def selection(self) -> Selection:
        """The marks, kept across filters, screens and reloads."""

    @property
    def clock(self) -> Clock:
        """Now, as epoch seconds (fixed in tests, so screens render the same every run)."""

    @property
    def config(self) -> UiConfig:
        """The operator's console settings (refresh intervals, typed-confirm size...)."""

    @property
    def read_only(self) -> bool:
        """Nothing may be written: --read-only, or Redis refuses keyops' writes (ACL)."""

    @property
    def read_only_reason(self) -> str:
        """Why the session is read-only, worded for the operator ("" when it may write)."""

    @property
    def last_op_id(self) -> str:
        """This console's last operation that left keys changed ("" before any): `u` undoes it."""

    @property
    def lost_connection(self) -> str:
        """Why Redis stopped answering; "" while it answers (a reactive: watch it)."""

    @property
    def lost_at(self) -> float:
        """When Redis stopped answering (epoch seconds); meaningful while it is lost."""

    @property
    def reconnect_every(self) -> float:
        """Seconds between tries to reach Redis again while it is lost (a reactive: watch it)."""

    @property
    def stop_requested(self) -> str:
        """Why the console must stop; "" until it must (a reactive: watch it)."""

    async def open_data(self) -> ConsoleData:
        """Opens the session on first use; the same data afterwards."""

    def connection_problem(self, problem: str) -> None:
        """A screen met a dead connection: the console says so until Redis answers again."""

    def report_failure(self, doing: str, error: KeyopsError, *, background: bool = False) -> None:
        """A read or plan failed ("Previewing the disable"): a dialog says what and why; a lost
        connection starts the reconnect probe and is shown once unless the operator asked."""

    def offer_recovery(self) -> None:
        """Offers the operations an earlier keyops left half-done (once per console run)."""

    def run_plan(
        self, plan: BatchPlan, *, confirmed: bool = False, start: StartBatch | None = None
    ) -> None:
        """Confirms a planned batch as its size requires, then runs it on the progress screen."""

    def read_only_refusal(self, what: str) -> str:
        """Why `what` (an action, worded for the operator) is off in this read-only session."""

    def worker_failed(self, event: Worker.StateChanged) -> None:
        """Shows a failed background task as an error the operator cannot miss."""
