"""Drive the demo and save an SVG of each screen into screenshots/ (the README shows them).

    ./dev screenshots

One demo session walks the jobs an operator does: filter and mark, read a key, edit tags
(preview, typed confirm, progress, summary), look the operation up in the audit screen,
assign accounts, move keys between accounts, disable keys, edit limits on the form, the
deleted keys, open help and the palette, and last, once usage shaped like CRS's is written
for the demo's keys (the demo starts with none), the top spenders and a key's usage. Nothing
here is drawn by hand.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Select, Static

from keyops.core.seeding.usage import seed_usage
from keyops.tui.app import KeyopsApp, make_demo_app
from keyops.tui.config import UiConfig

OUT = Path(__file__).resolve().parent
NOW = datetime(2026, 11, 27, 3, 0, 0, tzinfo=UTC)
SIZE = (120, 34)


async def until(pilot: Pilot[Any], check: Callable[[], bool], what: str) -> None:
    for _ in range(600):
        await pilot.pause(0.05)
        try:
            if check():
                return
        except Exception:  # the screen is still being built
            continue
    raise RuntimeError(f"the demo never got to: {what}")


def text_of(app: KeyopsApp, selector: str) -> str:
    """What a Static shows, as plain text (it may hold a Rich table)."""
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(app.screen.query_one(selector, Static).content)
    return console.export_text()


def on_top(app: KeyopsApp, name: str) -> Callable[[], bool]:
    return lambda: type(app.screen).__name__ == name


async def shoot(app: KeyopsApp, name: str) -> None:
    path = app.save_screenshot(filename=f"{name}.svg", path=str(OUT))
    print(f"wrote {path}")


async def walk() -> None:
    app = make_demo_app(
        2000, now=NOW, clock=NOW.timestamp, config=UiConfig(confirm_typed_above=100)
    )
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "shown of" in text_of(app, "#status-line"), "the key list")
        await shoot(app, "key-list")

        await pilot.press("slash", *"tag:prod bound:claude", "enter")
        await pilot.press("space", "space", "down", "v", "down", "down")
        await pilot.pause(0.2)
        await shoot(app, "key-list-marks")

        await pilot.press("escape", "enter")
        await until(pilot, on_top(app, "KeyDetailScreen"), "key details")
        await until(pilot, lambda: "isActive" in text_of(app, "#fields"), "fields")
        await shoot(app, "key-detail")

        await pilot.press("escape", "U", "slash", *"tag:team-a", "enter", "asterisk", "t")
        await until(pilot, on_top(app, "TagEditorScreen"), "the tag editor")
        await pilot.press(*"oncall", "tab", *"legacy")
        await until(pilot, lambda: "unchanged" in text_of(app, "#preview-counts"), "preview")
        await shoot(app, "tag-editor")

        await pilot.press("ctrl+s")
        await until(pilot, on_top(app, "BatchConfirmScreen"), "the confirm")
        await pilot.pause(0.2)
        await shoot(app, "batch-confirm")
        count = len(app.screen.plan.plans)  # type: ignore[attr-defined]
        await pilot.press(*str(count), "enter")
        await until(pilot, on_top(app, "ProgressScreen"), "progress")
        await until(pilot, lambda: app.screen.outcome is not None, "the summary")  # type: ignore[attr-defined]
        await pilot.pause(0.3)
        await shoot(app, "progress-summary")

        await pilot.press("enter", "o")
        await until(pilot, on_top(app, "OperationsScreen"), "operations")
        await pilot.pause(0.5)
        await shoot(app, "operations-audit")

        await pilot.press("escape", "a")
        await until(pilot, on_top(app, "AccountAssignScreen"), "accounts")
        data = app.data
        assert data is not None
        shared = next(a for a in data.catalog.all_accounts() if a.name == "console-loop-shared")
        app.screen.query_one(
            "#assign-claudeConsoleAccountId", Select
        ).value = f"account:{shared.id}"
        await until(pilot, lambda: "unchanged" in text_of(app, "#assign-counts"), "preview")
        await shoot(app, "account-assign")

        await pilot.press(
            "escape", "U", "slash", "ctrl+u", *"account:console-loop-dedicated", "enter"
        )
        await pilot.press("m")
        await until(pilot, on_top(app, "AccountMoveScreen"), "the move")
        await pilot.pause(0.2)
        await pilot.press("enter", *"console-loop-s", "enter")
        await until(pilot, lambda: "change" in text_of(app, "#assign-counts"), "move preview")
        await shoot(app, "account-move")

        await pilot.press("escape", "U", "slash")
        app.screen.query_one("#filter").value = "status:deleted | status:disabled | tag:team-b"  # type: ignore[attr-defined]
        await pilot.press("enter", "asterisk", "d")
        await until(pilot, on_top(app, "StatusChangeScreen"), "status")
        await until(pilot, lambda: "unchanged" in text_of(app, "#status-counts"), "plan")
        await shoot(app, "status-confirm")

        await pilot.press("escape", "question_mark")
        await until(pilot, on_top(app, "HelpScreen"), "help")
        await shoot(app, "help")

        await pilot.press("escape", "colon", *"sort")
        await pilot.pause(0.5)
        await shoot(app, "command-palette")

        await pilot.press("escape", "U", "slash", "ctrl+u", *"tag:team-a", "enter", "asterisk")
        await pilot.press("f")
        await until(pilot, on_top(app, "KeyEditScreen"), "the edit form")
        await until(pilot, lambda: "keys" in text_of(app, "#spread-concurrency"), "spread")
        await pilot.press("tab", "5", "tab", *"2..5")
        await pilot.pause(0.5)
        await shoot(app, "edit-form")

        await pilot.press("escape", "U", "D")
        await until(pilot, lambda: "restore" in text_of(app, "#status-line"), "deleted view")
        await pilot.pause(0.3)
        await shoot(app, "deleted-keys")

        await pilot.press("D")
        data = app.data
        assert data is not None
        ids = [row.id for row in data.sorted_rows]
        await seed_usage(data.session.clients.write, ids, now=NOW.timestamp())
        await until(pilot, lambda: data.live.loaded and not data.live.reading, "first usage")
        before = data.live.table
        app.screen.refresh_usage()  # type: ignore[attr-defined]  # the live view's next read
        await until(pilot, lambda: data.live.table is not before, "usage read again")
        await pilot.press("dollar_sign")
        await pilot.pause(0.5)
        await shoot(app, "usage-top-spenders")

        await pilot.press("enter")
        await until(pilot, on_top(app, "KeyDetailScreen"), "key details")
        await pilot.pause(0.5)
        await shoot(app, "key-detail-usage")


if __name__ == "__main__":
    asyncio.run(walk())
