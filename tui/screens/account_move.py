"""Move keys from one account to another: every live key bound to the account (or group) you
move from is rebound to the one you pick, on that binding field.

"from" lists what the keys you opened this on are bound to, with how many keys each serves;
"to" lists the accounts and groups of that field with platform, shared or dedicated, status
and health. A key that left the account since the list was read is left alone. `enter` opens
a list (type to jump), `ctrl+s` moves (a batch over the typed-count limit asks for its
size first), `esc` closes, nothing written.
"""

from __future__ import annotations

from collections import Counter

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Select, Static

from keyops.core.api import (
    FIELD_SHORT_NAMES,
    AccountAssign,
    BadRequest,
    BatchPlan,
    BindingField,
    KeyRow,
)
from keyops.tui.screens.account_assign import UNCHANGED, field_options
from keyops.tui.screens.base import PreviewModal, WriteBinding, plan_still_valid
from keyops.tui.screens.confirm import plan_counts, sample_table
from keyops.tui.shown import printable
from keyops.tui.widgets.tick_box import TickBox

FROM_SEPARATOR = "\t"  # a Select value holds the field and the stored binding together


def bound_to(rows: list[KeyRow]) -> Counter[tuple[BindingField, str]]:
    """How many of these rows each (field, stored binding) serves; the shared pool left out."""
    counts: Counter[tuple[BindingField, str]] = Counter()
    for row in rows:
        for field in BindingField:
            raw = row.binding(field)
            if raw:  # "" is the shared pool: nothing to move from
                counts[(field, raw)] += 1
    return counts


class AccountMoveScreen(PreviewModal):
    HELP_TITLE = "Move keys to another account"
    HELP_TEXT = __doc__ or ""
    BINDINGS = [
        WriteBinding("ctrl+s", "apply", "Move", id="move.apply"),
        Binding("escape", "close", "Close", id="move.close"),
    ]

    def __init__(self, seed_ids: list[str]) -> None:
        super().__init__([])
        self.seed_ids = seed_ids

    def compose(self) -> ComposeResult:
        table = self.data.table
        live = [row for row in table if not row.is_deleted]
        serving = bound_to(live)
        seeds = bound_to([table.by_id[i] for i in self.seed_ids if i in table.by_id])
        options: list[tuple[Text | str, str]] = [
            (
                Text(
                    f"{FIELD_SHORT_NAMES[field]}: {self.data.binding_name(field, raw)}"
                    f" · {serving[(field, raw)]} keys"
                ),
                f"{field.value}{FROM_SEPARATOR}{raw}",
            )
            for (field, raw), _ in seeds.most_common()
        ]
        with Vertical(id="dialog", classes="wide"):
            yield Static(Text("Move keys to another account", style="bold"))
            with Horizontal(classes="assign-row"):
                yield Label("from", classes="assign-label")
                yield Select(
                    options or [("(these keys are bound to no account)", UNCHANGED)],
                    value=options[0][1] if options else UNCHANGED,
                    allow_blank=False,
                    id="move-from",
                )
            with Horizontal(classes="assign-row"):
                yield Label("to", classes="assign-label")
                # Blank until picked: a default target would preview (and could run) a move
                # nobody chose.
                yield Select([], prompt="pick a target", id="move-to")
            with Horizontal(id="assign-options"):
                yield TickBox("force unhealthy", id="force")
                yield TickBox("atomic", value=True, id="atomic")
            yield Static("", id="assign-error")
            yield Static("pick a target to see what would change", id="assign-counts")
            yield Static("", id="assign-warnings")
            yield Static("", id="assign-sample")
            yield Static(
                "enter opens a list (type to jump) · ctrl+s move · tab next · esc close",
                classes="hint",
            )

    def on_mount(self) -> None:
        self.source_changed()
        self.query_one("#move-to", Select).focus()

    def source(self) -> tuple[BindingField, str] | None:
        value = self.query_one("#move-from", Select).value
        if not isinstance(value, str) or FROM_SEPARATOR not in value:
            return None
        field, _, raw = value.partition(FROM_SEPARATOR)
        return BindingField(field), raw

    @on(Select.Changed, "#move-from")
    def source_changed(self) -> None:
        """A new source: the keys it serves are the targets, and "to" lists its field's choices."""
        source = self.source()
        to = self.query_one("#move-to", Select)
        if source is None:
            self.key_ids = []
            return
        field, raw = source
        self.key_ids = [
            row.id for row in self.data.table if not row.is_deleted and row.binding(field) == raw
        ]
        choices = [
            (label, value)
            for label, value in field_options(field, self.data.catalog)
            if value != UNCHANGED and not value.endswith(raw)
        ]
        to.set_options(choices)  # back to blank: the target is picked per source
        self.schedule_preview()

    def request(self) -> AccountAssign | None:
        source = self.source()
        target = self.query_one("#move-to", Select).value
        error = self.query_one("#assign-error", Static)
        if source is None or not isinstance(target, str) or target == UNCHANGED:
            error.update("")
            return None
        field, raw = source
        try:
            request = AccountAssign.build(
                [f"{field.value}={target}"],
                move_from={field: raw},
                force=self.query_one("#force", TickBox).value,
                atomic=self.query_one("#atomic", TickBox).value,
            )
        except BadRequest as problem:
            error.update(Text("\n".join(map(printable, problem.problems)), style="bold red"))
            return None
        error.update("")
        return request

    @on(Select.Changed, "#move-to")
    @on(TickBox.Changed)
    def form_changed(self) -> None:
        self.schedule_preview()

    def refresh_preview(self) -> None:
        request = self.request()
        if request is None:
            for name in ("#assign-counts", "#assign-warnings", "#assign-sample"):
                self.query_one(name, Static).update("")
            return
        self.compute_preview(request)

    async def _plan(self, request: AccountAssign) -> BatchPlan | None:
        try:
            return await self.data.session.plan(self.key_ids, request)
        except BadRequest as problem:
            self.query_one("#assign-error", Static).update(
                Text("\n".join(printable(line) for line in problem.problems), style="bold red")
            )
            return None

    @work(exclusive=True, group="preview", exit_on_error=False)
    async def compute_preview(self, request: AccountAssign) -> None:
        plan = await self._plan(request)
        self.plan = plan
        if plan is None:
            self.query_one("#assign-counts", Static).update("")
            return
        # The move in full (names, wrapped), then the counts.
        counts = Text(printable(plan.summary) + "\n", style="bold").append_text(plan_counts(plan))
        self.query_one("#assign-counts", Static).update(counts)
        self.query_one("#assign-warnings", Static).update(
            Text("\n".join("⚠ " + printable(w) for w in plan.warnings), style="yellow")
            if plan.warnings
            else ""
        )
        self.query_one("#assign-sample", Static).update(
            sample_table(plan, 4, self.data.readable_change) if plan.plans else ""
        )

    async def action_apply(self) -> None:
        request = self.request()
        if request is None:
            self.notify("nothing to move: pick where the keys go", severity="warning")
            return
        plan = plan_still_valid(self.plan, request)
        if plan is None:
            plan = await self._plan(request)
            if plan is None:
                return
        self.dismiss(None)
        # The preview named both accounts and counted the keys: that was the confirm (a batch
        # over the typed-count limit still asks for its size).
        self.keyops.run_plan(plan, confirmed=True)
