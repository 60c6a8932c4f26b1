"""Signals in a batch command: Ctrl+C (SIGINT), SIGTERM, and SIGHUP (the SSH link dropped).

Before the batch starts writing (connecting, planning, the confirm prompt) each of them ends
the command at once, and it says that nothing was written. While the batch runs, none of them
kills it: each sets the batch's cancel event, so it stops at the next chunk boundary; an atomic
batch then rolls back what it wrote, a best-effort one keeps it, and the process exits after.
(asyncio's own Ctrl+C cancels the running task instead, and on Python 3.11 that cancel can be
lost inside redis-py's `wait_for`: the batch then runs on as if nothing was pressed.)

Ctrl+C again while it stops says what it is doing and how to stop at once; a third stops at
once, leaving the operation open, its keys locked, for `keyops ops recover`. SIGTERM and SIGHUP
never escalate: a shell that hangs up may send SIGHUP twice, and nobody is there to mean it.

After SIGHUP the terminal is gone and writing to it fails (EIO): the descriptors that were a
terminal are pointed at /dev/null, and the log keeps what the operator would have read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Iterator
from types import FrameType

from keyops.cli.output import mute_descriptor, say
from keyops.core.api import Phase, ProgressEvent

log = logging.getLogger("keyops.cli")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# A command a signal stopped exits 128 + the signal's number, as a shell reports a command the
# signal killed: 130 Ctrl+C, 129 SIGHUP, 143 SIGTERM.
EXIT_BASE = 128
SIGNAL_WORDS = {
    signal.SIGINT: "Ctrl+C (SIGINT)",
    signal.SIGTERM: "SIGTERM",
    signal.SIGHUP: "SIGHUP (the terminal hung up)",
}


class Stops:
    """What signals asked of this command, and how its batch run answers them."""

    def __init__(self) -> None:
        self.first: signal.Signals | None = None
        self.cancel = asyncio.Event()
        self.running = False  # a batch run has started (it answers signals itself)
        self.writing = False  # a write outside a batch run started (break-lock, audit trim)
        self.atomic = True
        self.force = False  # stop following the run at once (the op stays open)
        self.presses = 0  # Ctrl+C presses after the cancel
        self.last: ProgressEvent | None = None
        # The descriptors that are a terminal now: after a hang-up, writes to them fail.
        self.terminals = [fd for fd in (0, 1, 2) if _is_terminal(fd)]
        self.hung_up = False

    @property
    def words(self) -> str:
        return SIGNAL_WORDS[self.first] if self.first is not None else "a signal"

    @property
    def exit_code(self) -> int:
        return EXIT_BASE + int(self.first or signal.SIGINT)

    @property
    def op_id(self) -> str:
        return self.last.op_id if self.last is not None else ""

    # -- before the run: a signal ends the command ---------------------------------------

    @contextlib.contextmanager
    def armed(self) -> Iterator[None]:
        """For the whole command: a signal before the run raises KeyboardInterrupt (at a
        prompt too, which asyncio's handler leaves waiting for Enter)."""
        previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._before_run)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        """Around a command's own write: a signal from here on cannot say nothing was written."""
        self.writing = True
        yield

    @property
    def nothing_written(self) -> bool:
        return not (self.running or self.writing)

    def _before_run(self, signum: int, frame: FrameType | None) -> None:
        sig = self._note(signum)
        if self.running:  # the run is over and reported: the command is only closing
            log.info("%s after the batch ended; finishing", SIGNAL_WORDS[sig])
            return
        raise KeyboardInterrupt

    # -- while the batch runs: a signal is a cancel --------------------------------------

    @contextlib.contextmanager
    def during_run(self, atomic: bool) -> Iterator[asyncio.Event]:
        """Signals set the returned cancel event until the run is over and reported."""
        loop = asyncio.get_running_loop()
        self.running, self.atomic = True, atomic
        previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self._while_running, sig)
        try:
            yield self.cancel
        finally:
            for sig, handler in previous.items():
                loop.remove_signal_handler(sig)
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    def seen(self, event: ProgressEvent) -> None:
        self.last = event

    def _while_running(self, sig: signal.Signals) -> None:
        self._note(sig)
        op = f"operation {self.op_id}" if self.op_id else "the batch"
        if not self.cancel.is_set():
            self.cancel.set()
            then = (
                "then every key it wrote is rolled back"
                if self.atomic
                else "the keys written so far keep the change"
            )
            self.report(f"keyops: {SIGNAL_WORDS[sig]}: stopping {op} after the chunk being "
                      f"written; {then}")  # fmt: skip
            return
        if sig is not signal.SIGINT:
            log.info("%s again: %s is already stopping", SIGNAL_WORDS[sig], op)
            return
        self.presses += 1
        recover = (
            f"its keys locked, for 'keyops ops recover {self.op_id} --rollback' (undo what it "
            "wrote) or '--resume' (write the rest)"
        )
        if self.presses == 1:
            self.report(f"keyops: {self._doing()}; Ctrl+C once more stops at once and leaves "
                        f"it open, {recover}")  # fmt: skip
            return
        self.force = True
        self.report(f"keyops: stopping at once: {op} stays open, {recover}")

    def _doing(self) -> str:
        event, op = self.last, f"operation {self.op_id}"
        if event is not None and event.phase is Phase.ROLLING_BACK:
            return f"still rolling back {op} ({event.done} of {event.total} keys restored)"
        if event is not None and event.phase is Phase.VERIFYING:
            return f"{op} is checking the keys it wrote before it stops"
        return f"{op} stops after the chunk being written"

    # -- both ------------------------------------------------------------------------------

    def _note(self, signum: int) -> signal.Signals:
        sig = signal.Signals(signum)
        if self.first is None:
            self.first = sig
        log.warning("%s received%s", SIGNAL_WORDS[sig], f" (op {self.op_id})" if self.op_id else "")
        if sig is signal.SIGHUP and not self.hung_up:
            # The terminal is gone: writing to it would fail, so nothing writes to it now.
            self.hung_up = True
            for descriptor in self.terminals:
                mute_descriptor(descriptor)
        return sig

    def report(self, line: str) -> None:
        """A line for the operator that the log keeps too (after a hang-up, only the log has it)."""
        log.info("%s", line)
        say(line)


def _is_terminal(descriptor: int) -> bool:
    try:
        return os.isatty(descriptor)
    except OSError:
        return False
