"""Edit fields of the marked keys (the highlighted one when none is marked): limits,
permissions, service rates, expiry, the model and client restrictions and the description,
like CRS's batch edit but from the keyboard (CRS's page edits the last three one key at a time).

Every field starts empty, "unchanged": only what you type is written. Beside each field, what
the keys hold now ("0 on 950 keys, 5 on 50"). What you type is checked as you type, with CRS's
rules, and a problem is shown under its field; the line below the fields counts what would
change. Limits: 0 is no limit. Weekly reset: DAY@HOUR (mon@0). Permissions: all, or
claude,gemini,openai,droid. Service rates: claude=1.5,gemini=0.8 (other services keep theirs;
SERVICE=default takes one off). Expiry: a date (2027-01-31; a future date makes keys active, a
past one inactive, as CRS's edit does), +30d to extend (from the later of now and the current
date), or never. Model restriction: add NAME,… puts models on the list and turns the
restriction on; remove NAME,… takes them off (the restriction goes off once the list is
empty); clear empties it (off). Client restriction: the same with CRS's client ids
(claude_code, gemini_cli, codex_cli, droid_cli; the right arrow completes one). Description:
the text every key gets; clear removes it. Fields of several kinds are one operation: one `u`
undoes them all.

`ctrl+s` previews the batch on the confirm (counts, warnings, a sample before -> after; above
500 keys you type the count), `enter` there runs it; `tab` moves between fields (the form
scrolls; the focused field's hint stays at the bottom); `esc` closes, nothing written.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import DescendantFocus
from textual.suggester import Suggester
from textual.widgets import Input, Label, Static

from keyops.core.api import BadRequest, KeyopsError
from keyops.tui.edit_fields import (
    FIELDS,
    FormRequest,
    complete_clients,
    field_problems,
    form_request,
    spread_text,
)
from keyops.tui.screens.base import PreviewModal, WriteBinding, failure_text, plan_still_valid
from keyops.tui.screens.confirm import plan_counts
from keyops.tui.shown import printable, shown

KEYS_HINT = "ctrl+s preview · tab next field · esc close"


def _line(text: str, style: str = "") -> Text:
    """One line, cut at the edge: a long spread never pushes the form off an 80x24 screen."""
    return Text(text, style=style, no_wrap=True, overflow="ellipsis")


class ClientIds(Suggester):
    """Offers CRS's client ids as the operator types one (the right arrow takes it)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        return complete_clients(value)


SUGGESTERS = {"clients": ClientIds}


class KeyEditScreen(PreviewModal):
    HELP_TITLE = "Edit fields"
    HELP_TEXT = __doc__ or ""
    BINDINGS = [
        WriteBinding("ctrl+s", "apply", "Preview", id="edit.apply"),
        Binding("escape", "close", "Close", id="edit.close"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            yield Static(
                Text(f"Edit {len(self.key_ids)} keys", style="bold").append(
                    " · empty fields stay unchanged", style="dim"
                )
            )
            # Not a tab stop itself: tab goes field to field, and focus scrolls the form.
            with VerticalScroll(id="edit-fields", can_focus=False):
                for field in FIELDS:
                    with Horizontal(classes="edit-row"):
                        yield Label(field.label, classes="edit-label")
                        suggester = SUGGESTERS.get(field.id)
                        yield Input(
                            placeholder="unchanged",
                            id=f"edit-{field.id}",
                            suggester=suggester() if suggester else None,
                        )
                        yield Static(_line("reading…", "dim"), id=f"spread-{field.id}")
                    yield Static("", id=f"error-{field.id}", classes="edit-error")
            yield Static("type a value to see what would change", id="edit-preview")
            yield Static(KEYS_HINT, id="edit-hint", classes="hint")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(f"#edit-{FIELDS[0].id}", Input).focus()
        self.read_spread()

    @work(exclusive=True, group="spread", exit_on_error=False)
    async def read_spread(self) -> None:
        try:
            spreads = await self.data.session.field_spread(
                self.key_ids, [field.stored for field in FIELDS]
            )
        except KeyopsError as error:
            for field in FIELDS:
                self.query_one(f"#spread-{field.id}", Static).update(_line("?", "dim"))
            self.query_one("#edit-preview", Static).update(
                failure_text("cannot read the keys", error)
            )
            self.keyops.report_failure(
                f"Reading the fields of {len(self.key_ids)} keys", error, background=True
            )
            return
        for field, spread in zip(FIELDS, spreads, strict=True):
            self.query_one(f"#spread-{field.id}", Static).update(
                _line(spread_text(field, spread), "dim")
            )

    def connection_changed(self, was_lost: str, lost: str) -> None:
        super().connection_changed(was_lost, lost)
        if was_lost and not lost:
            self.read_spread()

    def texts(self) -> dict[str, str]:
        """Field id -> what is typed there, for the fields not left unchanged."""
        texts = {}
        for field in FIELDS:
            text = self.query_one(f"#edit-{field.id}", Input).value
            if text.strip():
                texts[field.id] = text
        return texts

    def show_problems(self, texts: dict[str, str]) -> bool:
        """Each field's problems under it; True when there are any."""
        problems = field_problems(texts)
        for field in FIELDS:
            line = self.query_one(f"#error-{field.id}", Static)
            messages = problems.get(field.id, [])
            line.update(Text("\n".join(printable(m) for m in messages), style="bold red"))
            line.set_class(bool(messages), "visible")
        return bool(problems)

    def request(self) -> FormRequest | None:
        """The edit the form describes, or None (nothing typed, or a field has a problem)."""
        texts = self.texts()
        if self.show_problems(texts):
            return None
        try:
            return form_request(texts)
        except BadRequest as problem:  # every field was fine alone; together they are not
            self.query_one("#edit-preview", Static).update(
                Text("\n".join(printable(m) for m in problem.problems), style="bold red")
            )
            return None

    @on(Input.Changed)
    def form_changed(self) -> None:
        self.show_problems(self.texts())  # at once: the message follows each keystroke
        self.schedule_preview()

    @on(DescendantFocus)
    def field_focused(self, event: DescendantFocus) -> None:
        widget_id = event.widget.id or ""
        field = next((f for f in FIELDS if f"edit-{f.id}" == widget_id), None)
        # What the focused field takes, above the keys (cut at the edge; help has it whole).
        what = _line(f"{field.label}: {field.hint}") if field else Text("")
        self.query_one("#edit-hint", Static).update(Text.assemble(what, "\n", KEYS_HINT))

    def refresh_preview(self) -> None:
        texts = self.texts()
        preview = self.query_one("#edit-preview", Static)
        if self.show_problems(texts):
            preview.update(Text("fix the fields marked in red to see what would change"))
            return
        request = self.request()
        if request is None:
            if not texts:
                preview.update("type a value to see what would change")
            return
        self.compute_preview(request)

    @work(exclusive=True, group="preview", exit_on_error=False)
    async def compute_preview(self, request: FormRequest) -> None:
        preview = self.query_one("#edit-preview", Static)
        try:
            plan = await self.data.session.plan(self.key_ids, request)
        except KeyopsError as error:
            preview.update(failure_text("cannot preview", error))
            self.keyops.report_failure(
                f"Previewing the edit of {len(self.key_ids)} keys", error, background=True
            )
            return
        self.plan = plan
        preview.update(shown(plan.summary, "bold").append("\n").append_text(plan_counts(plan)))

    async def action_apply(self) -> None:
        texts = self.texts()
        if self.show_problems(texts):
            self.notify("fix the fields marked in red first: nothing written", severity="warning")
            return
        request = self.request()
        if request is None:
            self.notify("nothing to change: every field is unchanged", severity="warning")
            return
        try:
            plan = plan_still_valid(self.plan, request) or await self.data.session.plan(
                self.key_ids, request
            )
        except KeyopsError as error:
            # The form stays open with what was typed: ctrl+s tries again once Redis answers.
            self.keyops.report_failure(f"Planning the edit of {len(self.key_ids)} keys", error)
            return
        self.dismiss(None)
        # The confirm is the preview: the edit, counts, warnings and a sample before -> after.
        self.keyops.run_plan(plan)
