"""Export audit entries to a file, as CSV (one row per changed field) or JSON lines (one line
per entry, an entry being one key of one operation). The scope is the highlighted operation
unless you pick everything the operations filter selects; the path is filled in for you. An
existing file is never overwritten. `enter` writes, `esc` closes."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Select, Static

from keyops.core.api import AuditFilter, KeyopsError, OperationRecord
from keyops.tui.screens.base import ConsoleModal
from keyops.tui.shown import printable, shown

OPERATION, FILTERED = "operation", "filtered"


def default_path(scope: str, op: OperationRecord | None, fmt: str) -> str:
    name = f"keyops-audit-{op.id}" if scope == OPERATION and op is not None else "keyops-audit"
    return f"~/{name}.{fmt}"


def csv_rows(path: Path) -> int:
    with path.open(encoding="utf-8", newline="") as written:
        return max(sum(1 for _ in csv.reader(written)) - 1, 0)  # less the header


class ExportScreen(ConsoleModal[None]):
    HELP_TITLE = "Export audit entries"
    HELP_TEXT = __doc__ or ""
    BINDINGS = [Binding("escape", "close", "Close", id="export.close")]

    def __init__(self, filters: AuditFilter, op: OperationRecord | None = None) -> None:
        super().__init__()
        self.filters = filters
        self.op = op

    def compose(self) -> ComposeResult:
        scopes: list[tuple[Text, str]] = []
        if self.op is not None:
            scopes.append(
                (
                    Text(printable(f"operation {self.op.id} · {self.op.summary}")),
                    OPERATION,
                )
            )
        scopes.append((Text("every operation the filter lists"), FILTERED))
        scope = scopes[0][1]
        with Vertical(id="dialog"):
            yield Static(Text("Export audit entries", style="bold"))
            yield Select(scopes, value=scope, allow_blank=False, id="export-scope")
            yield Select(
                [
                    ("CSV (a row per changed field)", "csv"),
                    ("JSON lines (a line per entry)", "json"),
                ],
                value="csv",
                allow_blank=False,
                id="export-format",
            )
            yield Input(
                default_path(scope, self.op, "csv"),
                placeholder="path, e.g. ~/keyops-audit.csv",
                id="export-path",
            )
            yield Static("", id="export-result")
            yield Static("enter writes · tab next · esc closes", classes="hint")

    def on_mount(self) -> None:
        path = self.query_one("#export-path", Input)
        path.focus()
        path.cursor_position = len(path.value)

    @on(Select.Changed)
    def choice_changed(self) -> None:
        """A path still as filled in follows the scope and format; a typed one is kept."""
        path = self.query_one("#export-path", Input)
        if path.value in {
            default_path(scope, self.op, fmt)
            for scope in (OPERATION, FILTERED)
            for fmt in ("csv", "json")
        }:
            path.value = default_path(self.scope, self.op, self.format)

    @property
    def scope(self) -> str:
        return str(self.query_one("#export-scope", Select).value)

    @property
    def format(self) -> str:
        return str(self.query_one("#export-format", Select).value)

    def chosen_filter(self) -> AuditFilter:
        if self.scope == OPERATION and self.op is not None:
            return dataclasses.replace(self.filters, op_id=self.op.id)
        return self.filters

    @on(Input.Submitted, "#export-path")
    def submitted(self, event: Input.Submitted) -> None:
        result = self.query_one("#export-result", Static)
        raw = event.value.strip()
        if not raw:
            result.update(Text("give a file path", style="bold red"))
            return
        path = Path(raw).expanduser()
        if path.exists():
            result.update(
                Text(
                    f"{path} exists; keyops does not overwrite files. Pick another path.",
                    style="bold red",
                )
            )
            return
        if not path.parent.is_dir():
            result.update(Text(f"{path.parent} is not a directory", style="bold red"))
            return
        self.write_export(path, self.format, self.chosen_filter())

    @work(exclusive=True, exit_on_error=False)
    async def write_export(self, path: Path, fmt: str, filters: AuditFilter) -> None:
        result = self.query_one("#export-result", Static)
        try:
            with path.open("x", encoding="utf-8", newline="") as out:
                count = await self.data.session.export_audit(out, fmt, filters)
            rows = csv_rows(path) if fmt == "csv" else count
        except OSError as error:
            result.update(Text(f"cannot write {path}: {error.strerror or error}", style="bold red"))
            return
        except KeyopsError as error:
            # A half-written export is no export: remove it so the same path works next time.
            await asyncio.to_thread(path.unlink, True)
            result.update(shown(f"nothing exported: {error}; {path} was not kept", "bold red"))
            self.keyops.report_failure("Exporting the audit entries", error, background=True)
            return
        unit = "CSV rows" if fmt == "csv" else "lines"
        text = f"{count} entries ({rows} {unit}) written to {path}"
        result.update(Text(text, style="bold green"))
        self.notify(text, title="Exported")

    def action_close(self) -> None:
        self.dismiss(None)
