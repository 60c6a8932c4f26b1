"""Enable or disable the marked keys. The confirm states how many keys change, how many
already are that way, and which keys are refused and why (deleted keys are never enabled;
expired keys need a new expiry date, typed here as 2027-01-31 or `never`).

`enter` runs (large batches then ask for the key count), `esc` goes back, nothing written.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Checkbox, Input, Static

from keyops.core.api import BadRequest, BatchPlan, KeyopsError, OpType, StatusChange
from keyops.tui.context import CONNECTION_LOST
from keyops.tui.screens.base import ConsoleModal, WriteBinding, failure_text, plan_still_valid
from keyops.tui.screens.confirm import plan_counts, sample_table
from keyops.tui.shown import printable, shown
from keyops.tui.widgets.tick_box import TickBox

REFUSED_SHOWN = 8


def refused_table(plan: BatchPlan, limit: int = REFUSED_SHOWN) -> Table:
    table = Table(box=None, padding=(0, 1), show_header=True, show_edge=False)
    table.add_column("refused key", no_wrap=True, overflow="ellipsis")
    table.add_column("why", overflow="ellipsis", no_wrap=True)
    for key_id, reason in plan.skipped[:limit]:
        table.add_row(shown(plan.name(key_id) or key_id[:8]), shown(reason))
    if len(plan.skipped) > limit:
        table.add_row(f"… and {len(plan.skipped) - limit} more", "")
    return table


class StatusChangeScreen(ConsoleModal[None]):
    HELP_TITLE = "Enable or disable keys"
    HELP_TEXT = __doc__ or ""
    BINDINGS = [
        # Priority: enter runs even with the checkbox focused (space toggles it).
        WriteBinding("enter", "run", "Run", priority=True, id="status.run"),
        Binding("escape", "close", "Back", id="status.close"),
    ]

    def __init__(self, key_ids: list[str], *, enable: bool) -> None:
        super().__init__()
        self.key_ids = key_ids
        self.enable = enable
        self.plan: BatchPlan | None = None
        self._disabled_by: tuple[str, frozenset[str]] | None = None  # (op id, keys it disabled)

    def compose(self) -> ComposeResult:
        verb = "Enable" if self.enable else "Disable"
        with Vertical(id="dialog", classes="wide"):
            yield Static(Text(f"{verb} {self.targets_text()}", style="bold"), id="status-title")
            if self.enable:
                yield Input(
                    placeholder="new expiry for expired keys (2027-01-31 or never); empty keeps it",
                    id="expires",
                )
            yield TickBox(
                "atomic (any failure rolls all back)", value=False, id="atomic",
                tooltip="Off: a disable lands on every key it can, now",
            )  # fmt: skip
            yield Static("", id="status-error")
            yield Static("reading the keys…", id="status-counts")
            yield Static("", id="status-undo-hint", classes="warning")
            yield Static("", id="status-sample")
            yield Static("", id="status-refused")
            yield Static("enter runs · esc back, nothing written", classes="hint")

    def targets_text(self) -> str:
        """'3 keys', or for one key its name and id: a disable of the key under the cursor
        (nothing marked) must say which key it is before enter."""
        if len(self.key_ids) != 1:
            return f"{len(self.key_ids)} keys"
        key_id = self.key_ids[0]
        row = self.data.table.by_id.get(key_id)
        name = row.name if row else ""
        return f"1 key: {printable(name)} ({key_id[:8]})" if name else f"1 key: {key_id[:8]}"

    def on_mount(self) -> None:
        self.query_one("#status-undo-hint").display = False
        self.query_one("#atomic", Checkbox).focus()
        self.watch(self.app, CONNECTION_LOST, self.connection_changed, init=False)
        self.refresh_plan()

    def connection_changed(self, was_lost: str, lost: str) -> None:
        if was_lost and not lost:
            self.refresh_plan()  # Redis is back: the counts it could not read

    def request(self) -> StatusChange | None:
        expires = self.query_one("#expires", Input).value.strip() if self.enable else ""
        error = self.query_one("#status-error", Static)
        try:
            request = StatusChange.build(
                self.enable, expires or None, atomic=self.query_one("#atomic", Checkbox).value
            )
        except BadRequest as problem:
            error.update(
                Text("\n".join(printable(line) for line in problem.problems), style="bold red")
            )
            return None
        error.update("")
        return request

    @on(Input.Changed)
    @on(Checkbox.Changed)
    def form_changed(self) -> None:
        self.refresh_plan()

    def refresh_plan(self) -> None:
        self.plan = None
        request = self.request()
        if request is not None:
            self.compute_plan(request)

    def doing(self, step: str) -> str:
        """What failed, for the dialog: "Planning the disable of 2 keys"."""
        return f"{step} the {'enable' if self.enable else 'disable'} of {len(self.key_ids)} keys"

    @work(exclusive=True, group="status-plan", exit_on_error=False)
    async def compute_plan(self, request: StatusChange) -> None:
        counts = self.query_one("#status-counts", Static)
        try:
            plan = await self.data.session.plan(self.key_ids, request)
            hint = await self.undo_hint(plan)
        except KeyopsError as error:
            counts.update(failure_text("cannot read the keys", error))
            self.keyops.report_failure(self.doing("Previewing"), error, background=True)
            return
        if hint:
            plan.warnings.append(hint)  # the typed confirm of a large batch shows it too
        self.plan = plan
        counts.update(plan_counts(plan))
        undo_hint = self.query_one("#status-undo-hint", Static)
        undo_hint.update(shown("⚠ " + hint) if hint else "")
        undo_hint.display = bool(hint)
        self.query_one("#status-sample", Static).update(
            sample_table(plan, 4, self.data.readable_change) if plan.plans else ""
        )
        self.query_one("#status-refused", Static).update(
            refused_table(plan) if plan.skipped else ""
        )

    async def undo_hint(self, plan: BatchPlan) -> str:
        """After this console disabled keys, an enable over them also turns on the keys that were
        already off before that disable: the revert is what puts things back as they were."""
        op_id = self.keyops.last_op_id
        if not self.enable or not op_id or not plan.plans:
            return ""
        if self._disabled_by is None or self._disabled_by[0] != op_id:
            session = self.data.session
            record = await session.op(op_id)
            disabled: frozenset[str] = frozenset()
            if record.type is OpType.STATUS and record.params.get("enable") is False:
                disabled = frozenset(await session.op_journal(op_id))
            self._disabled_by = (op_id, disabled)
        disabled = self._disabled_by[1]
        changing = [p.key_id for p in plan.plans]
        if not disabled.intersection(changing):
            return ""  # not undoing that disable
        earlier = sum(1 for key_id in changing if key_id not in disabled)
        if not earlier:
            return ""
        return (
            f"{earlier} of these were already disabled before op {op_id} (it did not disable "
            f"them): this enables them too. u on the key list reverts op {op_id} instead"
        )

    async def action_run(self) -> None:
        request = self.request()
        if request is None:
            return
        try:
            plan = plan_still_valid(self.plan, request) or await self.data.session.plan(
                self.key_ids, request
            )
        except KeyopsError as error:
            # The form stays open: enter tries again once Redis answers.
            self.keyops.report_failure(self.doing("Planning"), error)
            return
        self.dismiss(None)
        self.keyops.run_plan(plan, confirmed=True)

    def action_close(self) -> None:
        self.dismiss(None)
