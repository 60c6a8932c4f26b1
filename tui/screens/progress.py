"""A batch running: phase (locking, applying, verifying, rolling back), a bar with percent,
keys per second and ETA, and failures as they happen. `c` (or esc) cancels after a confirm:
an atomic batch then rolls back every key it wrote, a best-effort one keeps what landed.
At the end a summary says what happened, to which keys, and what to do about each error;
`enter` or esc closes it and the key list reloads (marks are kept).
"""

from __future__ import annotations

import asyncio
import gc

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Header, Log, ProgressBar, Static

from keyops.core.api import ConnectionFailed, KeyopsError, OpStatus, Outcome, Phase, ProgressEvent
from keyops.tui.context import STOP_REQUESTED, StartBatch
from keyops.tui.screens.base import ConsoleScreen
from keyops.tui.screens.confirm import ConfirmScreen
from keyops.tui.shown import printable, shown
from keyops.tui.widgets.footer import ConsoleFooter

AFFECTED_SHOWN = 10
STATUS_WORDS = {
    OpStatus.DONE: "done",
    OpStatus.PARTIAL: "partly done",
    OpStatus.ROLLED_BACK: "rolled back",
    OpStatus.CANCELLED: "cancelled",
    OpStatus.REFUSED: "refused",
    OpStatus.RUNNING: "interrupted, needs recovery (o, then R)",
}


STEPS = (Phase.LOCKING, Phase.APPLYING, Phase.VERIFYING, Phase.FINISHED)


def phase_steps(current: Phase | None) -> Text:
    """locking ▸ applying ▸ verifying ▸ finished, the current phase highlighted."""
    text = Text()
    shown = (
        [*STEPS[:3], Phase.ROLLING_BACK, Phase.FINISHED]
        if current is Phase.ROLLING_BACK
        else list(STEPS)
    )
    for position, phase in enumerate(shown):
        if position:
            text.append(" ▸ ", style="dim")
        text.append(phase.value, style="bold reverse" if phase is current else "dim")
    return text


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return "ETA —"
    if seconds < 60:
        return f"ETA {seconds:.0f}s"
    return f"ETA {int(seconds // 60)}m{int(seconds % 60):02d}s"


def outcome_table(outcome: Outcome) -> Table:
    counts = outcome.counts
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(justify="right")
    for label, value in (
        ("planned", counts.planned), ("applied", counts.applied),
        ("already so", counts.already), ("skipped", counts.skipped),
        ("failed", counts.failed), ("rolled back", counts.rolled_back),
        ("re-applied after CRS rewrote them", counts.reapplied), ("still drifting", counts.drifting),
    ):  # fmt: skip
        if value or label in ("planned", "applied", "failed"):
            table.add_row(label, str(value))
    return table


def affected_table(outcome: Outcome, limit: int = AFFECTED_SHOWN) -> Table | None:
    problems = [*outcome.failures, *outcome.drifting, *outcome.not_rolled_back, *outcome.left_alone]
    if not problems:
        return None
    table = Table(box=None, padding=(0, 1), show_edge=False, expand=True)
    table.add_column("key", no_wrap=True, overflow="ellipsis", ratio=2)
    table.add_column("what happened", overflow="fold", ratio=3)
    table.add_column("what to do", overflow="fold", ratio=3)
    for failure in problems[:limit]:
        table.add_row(
            shown(failure.name or failure.key_id[:8]),
            shown(failure.reason),
            shown(failure.advice or "—"),
        )
    if len(problems) > limit:
        table.add_row(
            f"… {len(problems) - limit} more", "see the operation in the audit screen (o)", ""
        )
    return table


class ProgressScreen(ConsoleScreen):
    HELP_TITLE = "Batch progress"
    HELP_TEXT = __doc__ or ""
    BINDINGS = [
        Binding("c,escape", "cancel_or_close", "Cancel", id="progress.cancel"),
        Binding("enter", "close", "Close", id="progress.close"),
    ]

    class BatchFinished(Message):
        """The batch ended (whatever its outcome, None if it ended without one): what Redis
        holds may have changed."""

        def __init__(self, outcome: Outcome | None) -> None:
            super().__init__()
            self.outcome = outcome

    def __init__(self, title: str, start: StartBatch) -> None:
        super().__init__()
        self.title_text = title
        self.start = start
        self.cancel = asyncio.Event()
        self.outcome: Outcome | None = None
        self.last: ProgressEvent | None = None
        self.stopped = ""  # why the batch ended without an outcome (Redis lost before it could say)

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="progress-body"):
            yield Static(shown(self.title_text, "bold"), id="progress-title")
            yield Static(phase_steps(None), id="progress-steps")
            yield Static("starting…", id="progress-phase")
            yield ProgressBar(total=100, show_eta=False, id="progress-bar")
            yield Static("", id="progress-rate")
            yield Static("failures as they happen:", id="failures-title")
            yield Log(id="failures", max_lines=500)
            with VerticalScroll(id="summary"):
                yield Static("", id="summary-text")
                yield Static("", id="summary-counts")
                yield Static("", id="summary-affected")
            yield Static("c cancel", id="progress-hint", classes="hint")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        self.query_one("#summary").display = False
        # The plan's per-key objects are long-lived for the run; a full garbage collection
        # walking them held the UI ~90 ms at a time mid-batch. Unfrozen when it ends.
        gc.freeze()
        self.watch(self.app, STOP_REQUESTED, self.cancel_now, init=False)
        self.run_batch()

    @work(exclusive=True, group="batch", exit_on_error=False)
    async def run_batch(self) -> None:
        try:
            async for event in self.start(self.cancel):
                self.show_event(event)
            if self.outcome is None:
                self.query_one("#progress-phase", Static).update("ended without an outcome")
        except KeyopsError as error:
            self.cut_short(error)
        finally:
            if self.outcome is None:  # failed or cut short, it has ended all the same
                self.post_message(self.BatchFinished(None))

    def show_event(self, event: ProgressEvent) -> None:
        self.last = event
        self.query_one("#progress-steps", Static).update(phase_steps(event.phase))
        op = f"op {event.op_id} · " if event.op_id else ""
        cancelling = " · cancelling…" if self.cancel.is_set() and event.outcome is None else ""
        self.query_one("#progress-phase", Static).update(
            Text(
                f"{op}{event.phase.value}{cancelling}"
                + (f" · {event.message}" if event.message else "")
            )
        )
        bar = self.query_one("#progress-bar", ProgressBar)
        bar.update(total=max(event.total, 1), progress=event.done if event.total else 1)
        self.query_one("#progress-rate", Static).update(
            f"{event.done}/{event.total} keys · {event.percent:.0f}% · "
            f"{event.keys_per_second:,.0f} keys/s · {eta_text(event.eta_seconds)} · "
            f"{event.failed} failed"
        )
        log = self.query_one("#failures", Log)
        for failure in event.failures:  # each event carries the failures new since the last
            log.write_line(
                printable(f"{failure.name or failure.key_id[:8] or 'batch'}: {failure.reason}")
            )
        if event.outcome is not None:
            self.finish(event.outcome)

    def finish(self, outcome: Outcome) -> None:
        self.outcome = outcome
        gc.unfreeze()
        status = STATUS_WORDS.get(outcome.status, outcome.status.value)
        text = Text(
            f"Operation {outcome.op_id}: {status}",
            style="bold green" if outcome.status is OpStatus.DONE else "bold red",
        )
        if outcome.message:
            text.append(f"\n{printable(outcome.message)}", style="")
        for warning in outcome.warnings:
            text.append(f"\n⚠ {printable(warning)}", style="")
        self.query_one("#summary-text", Static).update(text)
        self.query_one("#summary-counts", Static).update(outcome_table(outcome))
        affected = affected_table(outcome)
        self.query_one("#summary-affected", Static).update(affected if affected is not None else "")
        self.query_one("#summary").display = True
        # The summary lists the affected keys; the live failure log gives it the room.
        self.query_one("#failures").display = False
        self.query_one("#failures-title").display = False
        self.query_one("#progress-hint", Static).update(
            "enter or esc closes · the list reloads, marks are kept"
        )
        self.post_message(self.BatchFinished(outcome))
        if outcome.status is OpStatus.DONE:
            self.notify(
                f"{outcome.counts.applied} keys changed", title=f"Operation {outcome.op_id} done"
            )

    def cut_short(self, error: KeyopsError) -> None:
        """The batch stopped before the engine could report an outcome (Redis went away while
        it set the operation up): say what that means for the keys, and how to go on."""
        gc.unfreeze()
        last = self.last
        wrote = last is not None and last.phase not in (Phase.PLANNED, Phase.LOCKING)
        op = last.op_id if last is not None and last.op_id else ""
        self.stopped = str(error)
        text = Text(f"Batch stopped: {printable(str(error))}", style="bold red")
        if wrote and op:
            text.append(
                f"\nOperation {op} may have written some keys: it stays open for recovery. "
                "When Redis answers, o then R finishes it or rolls it back.",
                style="",
            )
        else:
            text.append("\nNothing was written to any key.", style="")
        self.query_one("#summary-text", Static).update(text)
        self.query_one("#summary").display = True
        self.query_one("#progress-phase", Static).update(Text("stopped: Redis lost"))
        self.query_one("#progress-hint", Static).update(
            "enter or esc closes · the list reloads when Redis answers, marks are kept"
        )
        if isinstance(error, ConnectionFailed):
            self.keyops.connection_problem(str(error))  # the banner and the reconnect probe

    def action_cancel_or_close(self) -> None:
        if self.outcome is not None or self.stopped:
            self.action_close()
            return
        if self.cancel.is_set():
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.cancel.set()
                self.query_one("#progress-phase", Static).update("cancelling…")

        self.app.push_screen(
            ConfirmScreen(
                "Cancel this batch?",
                "An atomic batch rolls back every key it wrote; a best-effort batch keeps what already landed.",
            ),
            answer,
        )

    def cancel_now(self, reason: str) -> None:
        """Cancel without asking: the console must stop (its terminal hung up, SIGTERM)."""
        if self.outcome is None:
            self.cancel.set()
            self.query_one("#progress-phase", Static).update(Text(f"cancelling: {reason}"))

    def action_close(self) -> None:
        if self.outcome is None and not self.stopped:
            self.notify("still running: c cancels", severity="warning")
            return
        self.dismiss(None)
