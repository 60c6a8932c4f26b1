"""A batch running: phase (locking, applying, verifying, rolling back), a bar with percent,
keys per second and ETA, and failures as they happen. `c` (or esc) asks whether to cancel and
the batch pauses, writing nothing more, until you answer: yes cancels (an atomic batch then
rolls back every key it wrote, a best-effort one keeps what landed), no goes on.
At the end a summary says what happened, to which keys, and what to do about each error;
`enter` or esc closes it and the key list reloads (marks are kept).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Header, Log, ProgressBar, Static

from keyops.core.api import ConnectionFailed, KeyopsError, OpStatus, Outcome, Phase, ProgressEvent
from keyops.tui.context import STOP_REQUESTED, BatchFinished, StartBatch
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


def outcome_line(outcome: Outcome) -> str:
    """How far the batch got, from its outcome's counts: the last event's done/total says
    every key was handled even when a cancel or a refusal stopped it early."""
    counts = outcome.counts
    if outcome.status is OpStatus.REFUSED:
        return "nothing written"
    parts = [f"{counts.applied:,} of {counts.planned:,} keys written"]
    if counts.already:
        parts.append(f"{counts.already:,} already so")
    if counts.failed:
        parts.append(f"{counts.failed:,} failed")
    if counts.rolled_back:
        parts.append(f"{counts.rolled_back:,} rolled back: they hold what they held before")
    return " · ".join(parts)


def reached(outcome: Outcome) -> int:
    """Keys the batch got to (written, found already so, or failed), for the bar."""
    if outcome.status is OpStatus.REFUSED:
        return 0
    counts = outcome.counts
    return min(counts.planned, counts.applied + counts.already + counts.failed)


def rate_text(event: ProgressEvent) -> str:
    if event.phase is Phase.ROLLING_BACK:
        # The undo counts its own keys; a rate and ETA of the forward run would mislead here.
        return f"rolling back: {event.done:,}/{event.total:,} keys restored · {event.failed} failed"
    return (
        f"{event.done:,}/{event.total:,} keys · {event.percent:.0f}% · "
        f"{event.keys_per_second:,.0f} keys/s · {eta_text(event.eta_seconds)} · "
        f"{event.failed} failed"
    )


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


async def finished_batch(cancel: asyncio.Event) -> AsyncIterator[ProgressEvent]:
    """What a progress screen holds once its batch has ended (not the plan it ran)."""
    return
    yield  # an async generator that yields nothing


class ProgressScreen(ConsoleScreen):
    HELP_TITLE = "Batch progress"
    HELP_TEXT = __doc__ or ""
    BINDINGS = [
        Binding("c", "cancel", "Cancel", id="progress.cancel"),
        Binding("escape", "cancel_or_close", "Cancel/close", show=False, id="progress.escape"),
        Binding("enter", "close", "Close", id="progress.close"),
    ]

    def __init__(self, title: str, start: StartBatch) -> None:
        super().__init__()
        self.title_text = title
        self.start = start
        self.cancel = asyncio.Event()
        self.outcome: Outcome | None = None
        self.last: ProgressEvent | None = None
        self.stopped = ""  # why the batch ended without an outcome (Redis lost before it could say)
        # Cleared while the cancel question is open: no further event is asked of the batch,
        # so it writes no more chunks until the operator answers (its lease keeps beating).
        self.going = asyncio.Event()
        self.going.set()
        self.cancel_dialog: ConfirmScreen | None = None

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
        # Collected first: the closed preview and confirm (cycles holding their own plans)
        # would otherwise be frozen with it, out of the collector's reach for the whole run.
        gc.collect()
        gc.freeze()
        self.watch(self.app, STOP_REQUESTED, self.cancel_now, init=False)
        self.run_batch()

    @work(exclusive=True, group="batch", exit_on_error=False)
    async def run_batch(self) -> None:
        try:
            async for event in self.start(self.cancel):
                self.show_event(event)
                await self.going.wait()
            if self.outcome is None:
                self.query_one("#progress-phase", Static).update("ended without an outcome")
        except KeyopsError as error:
            self.cut_short(error)
        finally:
            # Told once the batch's generator has ended (failed, cut short or done), so its
            # plan and run state are gone before the key list reloads every row. Sent to the
            # app itself: this screen may be closed by then (enter on the summary while the
            # run still releases its lock), and a closed screen passes no message on.
            self.app.post_message(BatchFinished(self.outcome))

    def show_event(self, event: ProgressEvent) -> None:
        self.last = event
        if event.outcome is not None:
            self.finish(event.outcome)
            return
        self.query_one("#progress-steps", Static).update(phase_steps(event.phase))
        op = f"op {event.op_id} · " if event.op_id else ""
        cancelling = (
            " · cancelling…"
            if self.cancel.is_set()
            else (" · paused: cancel this batch?" if not self.going.is_set() else "")
        )
        self.query_one("#progress-phase", Static).update(
            Text(
                f"{op}{event.phase.value}{cancelling}"
                + (f" · {event.message}" if event.message else "")
            )
        )
        bar = self.query_one("#progress-bar", ProgressBar)
        bar.update(total=max(event.total, 1), progress=event.done if event.total else 1)
        self.query_one("#progress-rate", Static).update(rate_text(event))
        log = self.query_one("#failures", Log)
        for failure in event.failures:  # each event carries the failures new since the last
            log.write_line(
                printable(f"{failure.name or failure.key_id[:8] or 'batch'}: {failure.reason}")
            )

    def finish(self, outcome: Outcome) -> None:
        self.outcome = outcome
        # The runner's closure holds the plan (100,000 keys' writes): let it go now, not when
        # the summary is closed; the key list reloads every row meanwhile.
        self.start = finished_batch
        gc.unfreeze()
        if self.cancel_dialog is not None:
            # It ended before the operator answered: the question no longer applies.
            self.cancel_dialog.dismiss(False)
            self.notify("the batch ended before the cancel was answered", severity="warning")
        self.going.set()
        # The outcome says what happened; the phases, rate and ETA of the run are history.
        self.query_one("#progress-steps").display = False
        self.query_one("#progress-rate").display = False
        self.query_one("#progress-phase", Static).update(Text(outcome_line(outcome)))
        self.query_one("#progress-bar", ProgressBar).update(
            total=max(outcome.counts.planned, 1),
            progress=reached(outcome) if outcome.counts.planned else 0,
        )
        status = STATUS_WORDS.get(outcome.status, outcome.status.value)
        text = Text(
            f"Operation {outcome.op_id}: {status}" if outcome.op_id else f"Batch {status}",
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
        self.refresh_bindings()  # c Cancel leaves the footer
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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel" and self.outcome is not None:
            return False  # nothing left to cancel: off the footer
        return super().check_action(action, parameters)

    def action_cancel_or_close(self) -> None:
        if self.outcome is not None or self.stopped:
            self.action_close()
            return
        self.action_cancel()

    def action_cancel(self) -> None:
        if self.outcome is not None or self.cancel.is_set() or self.cancel_dialog is not None:
            return

        def answer(yes: bool | None) -> None:
            self.cancel_dialog = None
            if yes and self.outcome is None:
                self.cancel.set()
                self.query_one("#progress-phase", Static).update("cancelling…")
            self.going.set()

        self.going.clear()
        self.query_one("#progress-phase", Static).update("paused: cancel this batch?")
        self.cancel_dialog = ConfirmScreen(
            "Cancel this batch?",
            "The batch is paused until you answer: nothing more is written.\n"
            "Yes: an atomic batch rolls back every key it wrote; a best-effort batch keeps "
            "what already landed. No: it goes on.",
        )
        self.app.push_screen(self.cancel_dialog, answer)

    def cancel_now(self, reason: str) -> None:
        """Cancel without asking: the console must stop (its terminal hung up, SIGTERM)."""
        if self.outcome is None:
            self.cancel.set()
            self.going.set()
            self.query_one("#progress-phase", Static).update(Text(f"cancelling: {reason}"))

    def action_close(self) -> None:
        if self.outcome is None and not self.stopped:
            self.notify("still running: c cancels", severity="warning")
            return
        self.dismiss(None)
