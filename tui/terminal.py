"""The console's terminal, which may go away under it.

When the SSH link drops, the terminal hangs up: every write to it fails (EIO), every read
returns end-of-file at once, and the kernel sends SIGHUP and SIGCONT. Textual's output thread
dies at the first failed write, after which its queue fills and the next screen update blocks
the event loop for good (the batch, its rollback and its lock's heartbeat included); its input
thread spins on the end-of-file; and it takes the SIGCONT for the end of a Ctrl+Z and starts
a second pair of threads. `HangupSafeDriver` draws through `TolerantOutput`, which drops what
cannot be written and reports the terminal gone once; resumes only after its own suspend; and
`hang_up` stops reading input and points the terminal's output descriptors at /dev/null, so
the console can finish a batch with no screen, and exit.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import TextIO, cast

from textual.app import App
from textual.drivers.linux_driver import LinuxDriver

TerminalGone = Callable[[], None]


class TolerantOutput:
    """What Textual's output thread writes to: the terminal, until a write to it fails."""

    def __init__(self, stream: TextIO, gone: TerminalGone) -> None:
        self.stream = stream
        self.gone = gone
        self.lost = False

    def write(self, text: str) -> None:
        if not self.lost:
            try:
                self.stream.write(text)
            except (OSError, ValueError):
                self._lose()

    def flush(self) -> None:
        if not self.lost:
            try:
                self.stream.flush()
            except (OSError, ValueError):
                self._lose()

    def fileno(self) -> int:
        return self.stream.fileno()

    def _lose(self) -> None:
        self.lost = True
        self.gone()


class HangupSafeDriver(LinuxDriver):
    """Textual's terminal driver, with output that never fails and a way to let go of a
    terminal that hung up. The app learns of a lost terminal through `terminal_gone`."""

    def __init__(
        self,
        app: App[object],
        *,
        debug: bool = False,
        mouse: bool = True,
        size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(app, debug=debug, mouse=mouse, size=size)
        self._owner = app
        self._events = asyncio.get_running_loop()
        self._output = TolerantOutput(cast(TextIO, self._file), self._from_writer_thread)
        self._file = self._output  # type: ignore[assignment]  # the writer thread's file
        self.terminals = [fd for fd in (1, 2) if _is_terminal(fd)]
        self._suspended = False
        self._hung_up = False

    def _from_writer_thread(self) -> None:
        self._events.call_soon_threadsafe(self._tell_app)

    def _tell_app(self) -> None:
        gone = getattr(self._owner, "terminal_gone", None)
        if gone is not None:
            gone()

    def suspend_application_mode(self) -> None:
        self._suspended = True
        super().suspend_application_mode()

    def resume_application_mode(self) -> None:
        self._suspended = False
        super().resume_application_mode()

    def _sigcont_application(self, *args: object) -> None:
        # The kernel sends SIGCONT with SIGHUP when the terminal hangs up: only a SIGCONT that
        # ends our own suspend (Ctrl+Z) resumes drawing.
        if self._suspended and not self._hung_up:
            super()._sigcont_application(*args)

    def hang_up(self) -> None:
        """The terminal is gone: drawing stops, the input thread stops reading (its reads
        would all be end-of-file), and the output descriptors lead to /dev/null."""
        if self._hung_up:
            return
        self._hung_up = True
        self._output.lost = True
        self.exit_event.set()  # the input thread's loop condition; stopping input skips its join
        for descriptor in self.terminals:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, descriptor)
            os.close(devnull)


def _is_terminal(descriptor: int) -> bool:
    try:
        return os.isatty(descriptor)
    except OSError:
        return False
