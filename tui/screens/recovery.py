"""An operation a keyops process left half-done (it died or lost Redis mid-batch).

`f` finishes it under the same operation id, `b` rolls back every key it wrote to the exact
value before, `l` leaves it for later (the operations screen offers it again with `R`).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from keyops.core.api import OperationRecord
from keyops.tui.formatting import when
from keyops.tui.screens.base import ConsoleModal, WriteBinding
from keyops.tui.shown import printable


class RecoveryScreen(ConsoleModal[None]):
    HELP_TEXT = __doc__ or ""
    BINDINGS = [
        WriteBinding("f", "recover('resume')", "Finish it", id="recovery.resume"),
        WriteBinding("b", "recover('rollback')", "Roll back", id="recovery.rollback"),
        Binding("l,escape", "later", "Later", id="recovery.later"),
    ]

    def __init__(self, record: OperationRecord, more: int = 0) -> None:
        super().__init__()
        self.record = record
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
        if self.more:
            text.append(f"\n{self.more} more interrupted operation(s): see o, then R.", style="dim")
        with Vertical(id="dialog"):
            yield Static(text, id="recovery-text")
            if self.keyops.read_only:
                yield Static(
                    "read-only session: recover it from a session that may write", classes="warning"
                )
            yield Static("f finish it · b roll it back · l later", classes="hint")

    async def action_recover(self, action: str) -> None:
        session = self.data.session
        plan, resume = await session.plan_recovery(self.record.id, action)
        self.dismiss(None)
        self.keyops.run_plan(
            plan, confirmed=True, start=lambda cancel: session.run_recovery(plan, resume, cancel)
        )

    def action_later(self) -> None:
        self.dismiss(None)
