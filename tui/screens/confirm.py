"""Confirms: a yes/no question, and the batch confirm that states counts and a sample diff.

A batch that changes more keys than `confirm_typed_above` (500 unless configured) goes only
when the operator types the number of keys it changes.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from keyops.core.api import BatchPlan
from keyops.tui.formatting import cut_middle
from keyops.tui.screens.base import ConsoleModal
from keyops.tui.shown import printable, shown

SAMPLE_ROWS = 6
KEY_WIDTH = 18  # names cut in the middle to this, so keys of one fleet still read apart


class ConfirmScreen(ConsoleModal[bool]):
    HELP_TITLE = "Confirm"
    HELP_TEXT = "y or enter answers yes; n or esc answers no."
    BINDINGS = [
        Binding("y,enter", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str, detail: str = "") -> None:
        super().__init__()
        self.question = question
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(shown(self.question, "bold"))
            if self.detail:
                yield Static(Text("\n").join(shown(line) for line in self.detail.split("\n")))
            yield Static("y yes · n no", classes="hint")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


# "expired at 2026-09-27T03:00:00.000Z: …": the date differs per key, the reason does not.
_WHEN = re.compile(r" at \d{4}-\d\d-\d\dT[\d:.]+Z?")


def summarize_reasons(items: list[tuple[str, str]]) -> str:
    """'deleted (3), expired (1)' from (key id, reason) pairs; a reason that names each key's
    own date counts as one reason (the table below lists each key's date)."""
    counts = Counter(_WHEN.sub("", reason) for _, reason in items)
    return printable(
        ", ".join(f"{reason} ({count})" for reason, count in counts.most_common(4))
        + (", …" if len(counts) > 4 else "")
    )


def plan_counts(plan: BatchPlan) -> Text:
    text = Text()
    text.append(f"{len(plan.plans)} change", style="bold")
    text.append(f" · {len(plan.unchanged)} unchanged · {len(plan.skipped)} skipped")
    if plan.conflicts:
        text.append(f" · {len(plan.conflicts)} conflicts (tick overwrite)", style="bold red")
    conflicting = {key_id for key_id, _ in plan.conflicts}
    others = [(key_id, reason) for key_id, reason in plan.skipped if key_id not in conflicting]
    if others:
        text.append(f"\nskipped: {summarize_reasons(others)}")
    return text


def sample_table(
    plan: BatchPlan, limit: int = SAMPLE_ROWS, readable: Callable[[str], str] = str
) -> Table:
    """Before -> after of a few keys. `readable` names what a value holds (an account id as
    its name). Cells are cut to one line so the dialog's keys stay on screen at 80x24; the
    summary above the table states the decision in full."""
    table = Table(box=None, padding=(0, 1), expand=True, show_edge=False)
    table.add_column("key", no_wrap=True, width=KEY_WIDTH)
    table.add_column("before", ratio=3, overflow="ellipsis", no_wrap=True)
    table.add_column("after", ratio=3, overflow="ellipsis", no_wrap=True)
    for _, name, before, after in plan.preview(limit):
        table.add_row(
            shown(cut_middle(name, KEY_WIDTH) if name else "—"),
            shown(readable(before) if before else "—"),
            shown(readable(after) if after else "—"),
        )
    if len(plan.plans) > limit:
        table.add_row(f"… and {len(plan.plans) - limit} more", "", "")
    return table


class BatchConfirmScreen(ConsoleModal[bool]):
    HELP_TITLE = "Confirm the batch"
    HELP_TEXT = (
        "Last look before keyops writes. Enter runs the batch (after typing the key count when "
        "it is large); esc goes back and writes nothing."
    )
    BINDINGS = [
        Binding("enter", "run", "Run", id="batch_confirm.run"),
        Binding("escape", "back", "Back", id="batch_confirm.back"),
    ]

    def __init__(self, plan: BatchPlan, typed_above: int) -> None:
        super().__init__()
        self.plan = plan
        self.needs_typing = len(plan.plans) > typed_above

    def compose(self) -> ComposeResult:
        plan = self.plan
        mode = (
            "atomic: any failure rolls every key back"
            if plan.atomic
            else ("best effort: keys that fail are listed, the rest stay written")
        )
        with Vertical(id="dialog", classes="wide"):
            yield Static(shown(plan.summary, "bold"), id="confirm-summary")
            yield Static(plan_counts(plan), id="confirm-counts")
            yield Static(Text(mode), id="confirm-mode")
            for warning in plan.warnings:
                yield Static(shown("⚠ " + warning), classes="warning")
            yield Static(
                sample_table(plan, readable=self.data.readable_change), id="confirm-sample"
            )
            if self.needs_typing:
                yield Static(
                    Text(f"This changes {len(plan.plans)} keys. Type {len(plan.plans)} to go on."),
                    id="confirm-type-hint",
                )
                yield Input(placeholder=str(len(plan.plans)), id="confirm-count")
            yield Static("enter runs · esc goes back, nothing written", classes="hint")

    def on_mount(self) -> None:
        if self.needs_typing:
            self.query_one("#confirm-count", Input).focus()

    @on(Input.Submitted, "#confirm-count")
    def typed(self) -> None:
        self.action_run()

    def action_run(self) -> None:
        if self.needs_typing:
            typed = self.query_one("#confirm-count", Input).value.strip().replace(",", "")
            if typed != str(len(self.plan.plans)):
                self.notify(
                    f"type {len(self.plan.plans)} (the number of keys that change) to run",
                    severity="warning",
                )
                return
        self.dismiss(True)

    def action_back(self) -> None:
        self.dismiss(False)
