"""Delete, restore and purge keys from the key list; none is ever one keystroke away.

Delete soft-deletes the marked keys (the highlighted one when none is marked) as CRS does: they
stop authenticating at once and leave the list (`D` shows the deleted keys: the filter
status:deleted). Restore, from that view, brings them back as CRS's restore does. Each goes
once you type the word (`delete`, `restore`) and `enter`; above 500 keys the confirm then asks
for the count. `u` on the key list (or a revert in operations) undoes either.

Purge removes soft-deleted keys for good, with their usage data: no rollback, no revert. It
goes only once you type the number of keys it removes; while it runs the dialog says so (it
cannot be stopped halfway), then sums up what went: keys and usage keys removed, keys left
alone and why. `enter` or `esc` then closes it.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, ProgressBar, Static

from keyops.core.api import BatchPlan, KeyopsError, KeysDelete, KeysRestore, PurgePreview
from keyops.tui.screens.base import ConsoleModal, failure_text
from keyops.tui.screens.confirm import plan_counts
from keyops.tui.shown import printable, shown

NAMES_SHOWN = 5
# Why a key was not purged, in words (the core's statuses).
LEFT_ALONE = {
    "changed": "changed since the preview",
    "not-deleted": "no longer soft-deleted",
    "missing": "gone already",
}

_WHAT = {
    "delete": (
        "Soft delete, as CRS's delete: the keys stop authenticating at once and leave the "
        "list; their usage stays. u on the key list restores them."
    ),
    "restore": (
        "Restore, as CRS's restore: the keys authenticate again, active. u on the key list "
        "deletes them again."
    ),
}


def _names(names: list[str], total: int) -> Text:
    text = Text("", no_wrap=True, overflow="ellipsis")
    text.append(", ".join(printable(name) or "(no name)" for name in names[:NAMES_SHOWN]))
    if total > NAMES_SHOWN:
        text.append(f", … {total - NAMES_SHOWN} more")
    return text


class LifecycleScreen(ConsoleModal[None]):
    """Delete or restore: the plan's counts and names, then the typed word."""

    HELP_TITLE = "Delete or restore keys"
    HELP_TEXT = __doc__ or ""
    BINDINGS = [Binding("escape", "close", "Back", id="lifecycle.close")]

    def __init__(self, key_ids: list[str], action: str) -> None:
        super().__init__()
        self.key_ids = key_ids
        self.action = action  # "delete" or "restore": also the word to type
        self.plan: BatchPlan | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            yield Static(Text(f"{self.action.capitalize()} {len(self.key_ids)} keys", style="bold"))
            yield Static(_WHAT[self.action])
            yield Static("reading the keys…", id="lifecycle-counts")
            yield Static("", id="lifecycle-names")
            yield Static("", id="lifecycle-warnings", classes="warning")
            yield Static(Text(f"Type {self.action} and enter to go on."))
            yield Input(placeholder=self.action, id="lifecycle-word")
            yield Static("esc back, nothing written", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#lifecycle-word", Input).focus()
        self.compute_plan()

    @work(exclusive=True, group="lifecycle-plan", exit_on_error=False)
    async def compute_plan(self) -> None:
        request = KeysDelete() if self.action == "delete" else KeysRestore()
        counts = self.query_one("#lifecycle-counts", Static)
        try:
            plan = await self.data.session.plan(self.key_ids, request)
        except KeyopsError as error:
            counts.update(failure_text("cannot read the keys", error))
            self.keyops.report_failure(
                f"Previewing the {self.action} of {len(self.key_ids)} keys", error, background=True
            )
            return
        self.plan = plan
        counts.update(plan_counts(plan))
        names = [plan.name(write.key_id) for write in plan.plans[:NAMES_SHOWN]]
        self.query_one("#lifecycle-names", Static).update(_names(names, len(plan.plans)))
        self.query_one("#lifecycle-warnings", Static).update(
            Text("\n").join(shown("⚠ " + warning) for warning in plan.warnings)
        )

    @on(Input.Submitted, "#lifecycle-word")
    def typed(self, event: Input.Submitted) -> None:
        if event.value.strip().lower() != self.action:
            self.notify(f"type {self.action} to go on: nothing written", severity="warning")
            return
        if self.plan is None:
            self.notify("still reading the keys: enter again in a moment", severity="warning")
            return
        plan = self.plan
        self.dismiss(None)
        # The word was the confirm; a batch above the typed-count size asks for its count too.
        self.keyops.run_plan(plan, confirmed=True)

    def action_close(self) -> None:
        self.dismiss(None)


class PurgeScreen(ConsoleModal[None]):
    """Purge: what goes for good, then the typed count."""

    HELP_TITLE = "Purge deleted keys"
    HELP_TEXT = __doc__ or ""
    BINDINGS = [
        Binding("escape", "close", "Back", id="purge.close"),
        Binding("enter", "done", "Close", show=False, id="purge.done"),
    ]

    def __init__(self, key_ids: list[str]) -> None:
        super().__init__()
        self.key_ids = key_ids
        self.preview: PurgePreview | None = None
        self.running = False  # the purge is under way: esc waits for it
        self.finished = False  # the summary is shown

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            yield Static(Text(f"Purge {len(self.key_ids)} keys for good", style="bold"))
            yield Static(
                "Removes soft-deleted keys with their indexes and usage data. "
                "No rollback, no revert: this cannot be undone."
            )
            yield Static("reading the keys…", id="purge-counts")
            yield Static("", id="purge-names")
            yield Static("", id="purge-type-hint")
            yield Input(placeholder="the number of keys", id="purge-count")
            yield ProgressBar(total=None, show_eta=False, show_percentage=False, id="purge-working")
            yield Static("esc back, nothing removed", id="purge-hint", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#purge-working", ProgressBar).display = False
        self.query_one("#purge-count", Input).focus()
        self.read_preview()

    @work(exclusive=True, group="purge-preview", exit_on_error=False)
    async def read_preview(self) -> None:
        counts = self.query_one("#purge-counts", Static)
        try:
            preview = await self.data.session.purge_preview(self.key_ids)
        except KeyopsError as error:
            counts.update(failure_text("cannot read the keys", error))
            self.keyops.report_failure("Previewing the purge", error, background=True)
            return
        self.preview = preview
        total = len(preview.targets)
        text = Text(f"{total} soft-deleted keys and {preview.usage_keys} usage keys go", "bold")
        if preview.refused:
            text.append(f" · {len(preview.refused)} not soft-deleted: left alone", style="")
        counts.update(text)
        self.query_one("#purge-names", Static).update(
            _names([target.name for target in preview.targets], total)
        )
        self.query_one("#purge-type-hint", Static).update(
            Text(f"Type {total} and enter to purge them.") if total else "Nothing to purge."
        )

    @on(Input.Submitted, "#purge-count")
    def typed(self, event: Input.Submitted) -> None:
        preview = self.preview
        if preview is None:
            self.notify("still reading the keys: enter again in a moment", severity="warning")
            return
        total = len(preview.targets)
        if not total:
            self.notify("nothing to purge: only soft-deleted keys are purged", severity="warning")
            return
        if event.value.strip().replace(",", "") != str(total):
            self.notify(
                f"type {total} (the keys purged) to go on: nothing removed", severity="warning"
            )
            return
        if self.keyops.read_only:
            self.notify(self.keyops.read_only_refusal("purge"), severity="warning")
            return
        self.run_purge(preview)

    @work(exclusive=True, group="purge-run", exit_on_error=False)
    async def run_purge(self, preview: PurgePreview) -> None:
        total = len(preview.targets)
        self.running = True
        self.query_one("#purge-count", Input).display = False
        self.query_one("#purge-type-hint", Static).update(
            Text(
                f"Purging {total} keys and {preview.usage_keys} usage keys… "
                "it cannot be stopped halfway",
                style="bold",
            )
        )
        self.query_one("#purge-working", ProgressBar).display = True  # no total: it pulses
        try:
            outcome = await self.data.session.purge(preview)
        except KeyopsError as error:
            # Not "nothing was written": chunks sent before the failure did purge their keys.
            self.running = False
            self.show_result(
                shown(f"The purge stopped: {error}", "bold red").append(
                    " — keys already purged stay purged; P on the deleted view purges the rest "
                    "(it finds only what is still there)",
                    style="",
                )
            )
            self.keyops.report_failure(f"Purging {total} keys", error, background=True)
            return
        self.running = False
        summary = purge_summary(preview, outcome)
        self.show_result(Text(summary, style="bold"))
        self.notify(summary, title="Purge")

    def show_result(self, text: Text) -> None:
        self.finished = True
        self.query_one("#purge-working", ProgressBar).display = False
        self.query_one("#purge-type-hint", Static).update(text)
        self.query_one("#purge-hint", Static).update("enter or esc closes")
        self.set_focus(None)  # the input is gone: enter reaches the screen's binding

    def action_done(self) -> None:
        if self.finished:
            self.dismiss(None)

    def action_close(self) -> None:
        if self.running:
            self.notify("the purge is running: its summary follows", severity="warning")
            return
        self.dismiss(None)


def purge_summary(preview: PurgePreview, outcome: dict[str, str]) -> str:
    """'purged 3 keys and 41 usage keys; 1 left alone (changed since the preview)'."""
    purged = [t for t in preview.targets if outcome.get(t.key_id) == "purged"]
    usage = sum(len(target.usage_keys) for target in purged)
    text = f"Purged {len(purged)} keys and {usage} usage keys"
    left: dict[str, int] = {}
    for status in outcome.values():
        if status != "purged":
            reason = LEFT_ALONE.get(status, status)
            left[reason] = left.get(reason, 0) + 1
    if left:
        reasons = ", ".join(f"{count} {reason}" for reason, count in left.items())
        text += f"; {sum(left.values())} left alone ({reasons})"
    return text + "."
