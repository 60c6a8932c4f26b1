"""An operation a keyops process left half-done (it died or lost Redis mid-batch).

`f` finishes it under the same operation id, `b` rolls back every key it wrote to the exact
value before, `l` leaves it for later (the operations screen offers it again with `R`).
An interrupted rollback is finished by either key (never undone: that would put the change
back); an operation that had begun rolling back can only be rolled back.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from keyops.core.api import ConnectionFailed, KeyopsError, Recovery
from keyops.tui.formatting import when
from keyops.tui.screens.base import ConsoleModal, WriteBinding
from keyops.tui.shown import printable


class RecoveryScreen(ConsoleModal[None]):
    HELP_TITLE = "Recover an interrupted operation"
    HELP_TEXT = __doc__ or ""
    BINDINGS = [
        WriteBinding("f", "recover('resume')", "Finish it", id="recovery.resume"),
        WriteBinding("b", "recover('rollback')", "Roll back", id="recovery.rollback"),
        Binding("l,escape", "later", "Later", id="recovery.later"),
    ]

    def __init__(self, recovery: Recovery, more: int = 0) -> None:
        super().__init__()
        self.recovery = recovery
        self.record = recovery.record
        self.more = more

    def compose(self) -> ComposeResult:
        record = self.record
        counts = record.counts
        text = Text(f"Interrupted operation {record.id}\n", style="bold")
        text.append(
            f"{printable(record.summary)}\nby {printable(record.operator.label)}, "
            f"started {when(record.started_at)} UTC\n",
            style="",
        )
        text.append(
            f"{counts.applied} of {counts.planned} keys were written before it stopped.", style=""
        )
        if self.recovery.reason:
            text.append(f"\n{printable(self.recovery.reason)}.", style="")
        if self.more:
            text.append(f"\n{self.more} more interrupted operation(s): see o, then R.", style="dim")
        with Vertical(id="dialog"):
            yield Static(text, id="recovery-text")
            if self.keyops.read_only:
                yield Static(
                    "read-only session: recover it from a session that may write", classes="warning"
                )
            yield Static(self.hint(), classes="hint")

    def hint(self) -> str:
        recovery = self.recovery
        if recovery.finishes == self.record.id:
            return f"f or b finish this rollback ({self.record.reverts} is closed too) · l later"
        if recovery.finishes:
            return f"b finishes its rollback {recovery.finishes} (both close) · l later"
        if "resume" not in recovery.actions:
            return "b rolls it back · l later"
        return "f finish it · b roll it back · l later"

    async def action_recover(self, action: str) -> None:
        session = self.data.session
        try:
            plan, resume = await session.plan_recovery(self.record.id, action)
        except ConnectionFailed as lost:
            # The dialog stays: f or b tries again once Redis answers.
            self.keyops.report_failure(f"Planning the recovery of {self.record.id}", lost)
            return
        except KeyopsError as refused:
            self.notify(printable(str(refused)), severity="warning")
            return
        self.dismiss(None)
        self.keyops.run_plan(
            plan, confirmed=True, start=lambda cancel: session.run_recovery(plan, resume, cancel)
        )

    def action_later(self) -> None:
        self.dismiss(None)
