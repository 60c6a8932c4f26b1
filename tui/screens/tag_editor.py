"""Tag editor for the marked keys.

Shows the tags the keys carry now with counts. Type tags to add and to remove (comma-
separated; → accepts the completion offered from every tag in Redis), pick what happens to keys that already
carry tags (merge keeps theirs, replace sets exactly the added tags, skip leaves such keys
alone), and read the live preview: keys changed, unchanged and skipped, with a sample of
before -> after. `ctrl+s` applies (a batch over the typed-count limit asks for its size
first); `esc` closes, nothing written.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.suggester import Suggester
from textual.widgets import Checkbox, Input, Label, Select, Static

from keyops.core.api import BadRequest, KeyopsError, TagEdit, js_trim
from keyops.tui.screens.base import PreviewModal, WriteBinding, failure_text, plan_still_valid
from keyops.tui.screens.confirm import plan_counts, sample_table
from keyops.tui.shown import printable
from keyops.tui.widgets.tick_box import TickBox

CURRENT_TAGS_SHOWN = 12


class TagSuggester(Suggester):
    """Completes the last comma-separated tag from the tags Redis already holds."""

    def __init__(self, tags: list[str]) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.tags = tags

    async def get_suggestion(self, value: str) -> str | None:
        _, _, last = value.rpartition(",")
        stem = last.lstrip()
        if not stem:
            return None
        for tag in self.tags:
            # A tag holding control characters is never typed into the box for the operator.
            if tag.startswith(stem) and tag != stem and printable(tag) == tag:
                return value[: len(value) - len(stem)] + tag
        return None


def split_tags(text: str) -> list[str]:
    # Trimmed as CRS's JavaScript trims (U+FEFF included); the request validates the rest.
    return [tag for part in text.split(",") if (tag := js_trim(part))]


class TagEditorScreen(PreviewModal):
    HELP_TITLE = "Edit tags"
    HELP_TEXT = __doc__ or ""
    BINDINGS = [
        WriteBinding("ctrl+s", "apply", "Apply", id="tags.apply"),
        Binding("escape", "close", "Close", id="tags.close"),
    ]

    def compose(self) -> ComposeResult:
        rows = [
            self.data.table.by_id[key_id]
            for key_id in self.key_ids
            if key_id in self.data.table.by_id
        ]
        counts = self.data.tag_counts(rows)
        untagged = sum(1 for row in rows if not row.tags)
        current = Text(f"{len(self.key_ids)} keys carry: ", style="bold")
        for tag, count in counts.most_common(CURRENT_TAGS_SHOWN):
            current.append(f"{printable(tag)} ({count})  ")
        if len(counts) > CURRENT_TAGS_SHOWN:
            current.append(f"… {len(counts) - CURRENT_TAGS_SHOWN} more  ")
        if untagged:
            current.append(f"no tags ({untagged})", style="dim")
        suggester = TagSuggester(self.data.known_tags())
        with Vertical(id="dialog", classes="wide"):
            yield Static(Text(f"Edit tags of {len(self.key_ids)} keys", style="bold"))
            yield Static(current, id="current-tags")
            with Horizontal(classes="tag-row"):
                yield Label("add", classes="tag-label")
                yield Input(
                    placeholder="tag, tag… (→ accepts a completion)",
                    id="add-tags",
                    suggester=suggester,
                )
            with Horizontal(classes="tag-row"):
                yield Label("remove", classes="tag-label")
                yield Input(placeholder="tag, tag…", id="remove-tags", suggester=suggester)
            with Horizontal(id="tag-options"):
                yield Select(
                    [("keys with tags: merge", "merge"), ("keys with tags: replace", "replace"),
                     ("keys with tags: skip", "skip")],
                    value="merge", allow_blank=False, id="conflict",
                )  # fmt: skip
                yield TickBox("atomic (any failure rolls all back)", value=True, id="atomic")
            yield Static("", id="tag-error")
            yield Static("type tags to see what would change", id="preview-counts")
            yield Static("", id="preview-sample")
            yield Static("ctrl+s apply · tab next field · esc close", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#add-tags", Input).focus()

    def request(self) -> TagEdit | None:
        """The edit the form describes; shows why when it is not valid."""
        add = split_tags(self.query_one("#add-tags", Input).value)
        remove = split_tags(self.query_one("#remove-tags", Input).value)
        conflict = str(self.query_one("#conflict", Select).value)
        atomic = self.query_one("#atomic", Checkbox).value
        error = self.query_one("#tag-error", Static)
        if not add and not remove and conflict != "replace":
            error.update("")
            return None
        try:
            if add or conflict == "replace":
                request = TagEdit.build("add", add, conflict, atomic, remove=remove)
                if conflict == "replace" and not add:
                    request = TagEdit.build("replace", [], atomic=atomic)
            else:
                request = TagEdit.build("remove", remove, atomic=atomic)
        except BadRequest as problem:
            error.update(
                Text("\n".join(printable(line) for line in problem.problems), style="bold red")
            )
            error.add_class("visible")
            return None
        error.update("")
        error.remove_class("visible")
        return request

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def form_changed(self) -> None:
        self.schedule_preview()

    def refresh_preview(self) -> None:
        request = self.request()
        if request is None:
            self.query_one("#preview-counts", Static).update("type tags to see what would change")
            self.query_one("#preview-sample", Static).update("")
            return
        self.compute_preview(request)

    @work(exclusive=True, group="preview", exit_on_error=False)
    async def compute_preview(self, request: TagEdit) -> None:
        try:
            plan = await self.data.session.plan(self.key_ids, request)
        except KeyopsError as error:
            self.query_one("#preview-counts", Static).update(failure_text("cannot preview", error))
            self.query_one("#preview-sample", Static).update("")
            self.keyops.report_failure(
                f"Previewing the tag edit of {len(self.key_ids)} keys", error, background=True
            )
            return
        self.plan = plan
        # The edit in full, wrapped: the sample below cuts its cells, and the tag being added
        # is the one thing the operator must read whole.
        counts = Text(printable(plan.summary) + "\n", style="bold").append_text(plan_counts(plan))
        self.query_one("#preview-counts", Static).update(counts)
        self.query_one("#preview-sample", Static).update(
            # Four rows: with the edit stated in full above, six pushed the keys off at 80x24.
            sample_table(plan, 4, self.data.readable_change)
        )

    async def action_apply(self) -> None:
        request = self.request()
        if request is None:
            self.notify("nothing to apply: type tags to add or remove", severity="warning")
            return
        try:
            plan = plan_still_valid(self.plan, request) or await self.data.session.plan(
                self.key_ids, request
            )
        except KeyopsError as error:
            # The form stays open with what was typed: ctrl+s tries again once Redis answers.
            self.keyops.report_failure(f"Planning the tag edit of {len(self.key_ids)} keys", error)
            return
        self.dismiss(None)
        # The editor's preview states the edit in full with its counts and a sample, as the
        # status dialog does: a second confirm only for a batch large enough to type its size.
        self.keyops.run_plan(plan, confirmed=True)
