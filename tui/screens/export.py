"""Export the audit entries the operations filter selects to a file, as CSV (one row per
changed field) or JSON lines. An existing file is never overwritten. `enter` writes, `esc`
closes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Select, Static

from keyops.core.api import AuditFilter, KeyopsError
from keyops.tui.screens.base import ConsoleModal
from keyops.tui.shown import shown


class ExportScreen(ConsoleModal[None]):
    HELP_TEXT = __doc__ or ""
    BINDINGS = [Binding("escape", "close", "Close", id="export.close")]

    def __init__(self, filters: AuditFilter) -> None:
        super().__init__()
        self.filters = filters

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text("Export audit entries", style="bold"))
            yield Select(
                [("CSV", "csv"), ("JSON lines", "json")],
                value="csv",
                allow_blank=False,
                id="export-format",
            )
            yield Input(placeholder="path, e.g. ~/keyops-audit.csv", id="export-path")
            yield Static("", id="export-result")
            yield Static("enter writes · esc closes", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#export-path", Input).focus()

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
        self.write_export(path, str(self.query_one("#export-format", Select).value))

    @work(exclusive=True, exit_on_error=False)
    async def write_export(self, path: Path, fmt: str) -> None:
        result = self.query_one("#export-result", Static)
        try:
            with path.open("x", encoding="utf-8", newline="") as out:
                count = await self.data.session.export_audit(out, fmt, self.filters)
        except OSError as error:
            result.update(Text(f"cannot write {path}: {error.strerror or error}", style="bold red"))
            return
        except KeyopsError as error:
            # A half-written export is no export: remove it so the same path works next time.
            await asyncio.to_thread(path.unlink, True)
            result.update(shown(f"nothing exported: {error}; {path} was not kept", "bold red"))
            self.keyops.report_failure("Exporting the audit entries", error, background=True)
            return
        result.update(Text(f"{count} entries written to {path}", style="bold green"))
        self.notify(f"{count} audit entries → {path}", title="Exported")

    def action_close(self) -> None:
        self.dismiss(None)
