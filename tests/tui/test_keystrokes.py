"""How many keys the on-call jobs take at 80x24, counted on the real app.

Only the keys beyond the typed text (the query, the tag, an account name typed to jump in a
list) are counted; `/` and the `enter` that leaves the filter count. Each test checks what
Redis (or the export) holds afterwards, so a shorter path that does the wrong thing fails.
The numbers are quoted in docs/user-guide.md ("Keystrokes").
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from keyops.tui.app import KeyopsApp
from tests.support.dump import usage_expected
from tests.tui.conftest import (
    demo_app,
    finish_progress,
    key_view,
    shown_names,
    static_text,
    usage_fixture_app,
    wait_for,
    wait_loaded,
)
from tests.tui.conftest import wait_screen as wait_for_screen

SIZE = (80, 24)


class Keys:
    """Presses keys on the app and counts them; typed text is pressed but not counted."""

    def __init__(self, pilot: Pilot[Any]) -> None:
        self.pilot = pilot
        self.count = 0

    async def press(self, *keys: str) -> None:
        for key in keys:
            self.count += 1
            await self.pilot.press(key)
            await self.pilot.pause()

    async def type(self, text: str) -> None:
        await self.pilot.press(*text)
        await self.pilot.pause(0.1)


def data_of(app: KeyopsApp):  # type: ignore[no-untyped-def]
    assert app.data is not None
    return app.data


async def field_of(app: KeyopsApp, key_id: str, field: str) -> str:
    return str(await data_of(app).session.clients.read.hget(f"apikey:{key_id}", field) or "")


async def test_disable_every_key_with_a_tag_takes_five_keys() -> None:
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        keys = Keys(pilot)
        await keys.press("slash")
        await keys.type("tag:team-e")
        await keys.press("enter", "asterisk", "d")
        await wait_for_screen(pilot, "StatusChangeScreen")
        await wait_for(
            pilot,
            lambda: "change" in str(app.screen.query_one("#status-counts").render()),
            "preview",
        )  # type: ignore[arg-type]
        await keys.press("enter")
        await finish_progress(pilot)
        assert keys.count <= 5, keys.count
        tagged = [row.id for row in data_of(app).table if "team-e" in row.tags]
        assert tagged and all([await field_of(app, i, "isActive") == "false" for i in tagged])
        print(f"disable a tag: {keys.count} keys")


async def test_set_concurrency_on_every_key_with_a_tag_takes_seven_keys() -> None:
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        keys = Keys(pilot)
        await keys.press("slash")
        await keys.type("tag:team-e")
        await keys.press("enter", "asterisk", "f")
        await wait_for_screen(pilot, "KeyEditScreen")
        await keys.press("tab")  # concurrency is the second field, after the token limit
        await keys.type("5")
        await wait_for(
            pilot,
            lambda: "change" in str(app.screen.query_one("#edit-preview").render()),
            "preview",
        )  # type: ignore[arg-type]
        await keys.press("ctrl+s")  # the confirm is the preview: counts and a sample
        await wait_for_screen(pilot, "BatchConfirmScreen")
        await keys.press("enter")
        await finish_progress(pilot)
        assert keys.count <= 7, keys.count
        tagged = [
            row.id for row in data_of(app).table if "team-e" in row.tags and not row.is_deleted
        ]
        assert tagged and all([await field_of(app, i, "concurrencyLimit") == "5" for i in tagged])
        print(f"set concurrency on a tag: {keys.count} keys")


async def test_move_every_key_on_an_account_to_another_takes_at_most_eight_keys() -> None:
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        data = data_of(app)
        accounts = {a.name: a for a in data.catalog.all_accounts()}
        old, new = accounts["console-loop-dedicated"], accounts["console-loop-shared"]
        field = "claudeConsoleAccountId"
        on_old = {row.id for row in data.table if not row.is_deleted and old.id in row.bindings}
        elsewhere = {
            row.id: await field_of(app, row.id, field) for row in data.table if row.id not in on_old
        }
        keys = Keys(pilot)
        await keys.press("slash")
        await keys.type("account:console-loop-dedicated")
        await keys.press("enter", "m")
        await wait_for_screen(pilot, "AccountMoveScreen")
        await keys.press("enter")  # opens the target list
        await keys.type("console-loop-s")  # jumps to the account
        await keys.press("enter")
        await wait_for(
            pilot,
            lambda: "change" in str(app.screen.query_one("#assign-counts").render()),
            "preview",
        )  # type: ignore[arg-type]
        # The decision names both accounts, never an id.
        summary = str(app.screen.query_one("#assign-counts").render())
        assert "console-loop-dedicated" in summary and "console-loop-shared" in summary
        assert new.id not in summary
        await keys.press("ctrl+s")
        progress = await finish_progress(pilot)
        assert keys.count <= 8, keys.count
        assert progress.outcome is not None and progress.outcome.counts.applied == len(on_old)
        assert {await field_of(app, i, field) for i in on_old} == {new.id}
        # Keys that were not on the old account are as they were.
        assert {i: await field_of(app, i, field) for i in elsewhere} == elsewhere
        print(f"move account A -> B: {keys.count} keys")


async def test_tag_a_filtered_set_except_three_keys_takes_at_most_eight_keys() -> None:
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        keys = Keys(pilot)
        await keys.press("slash")
        await keys.type("tag:team-c")
        await keys.press("enter", "asterisk")
        names = shown_names(app)
        left_out = names[:3]
        await keys.press("space", "space", "space")  # unmarks the first three, moving down
        await keys.press("t")
        await wait_for_screen(pilot, "TagEditorScreen")
        await keys.type("wave-3")
        await wait_for(
            pilot,
            lambda: "unchanged" in str(app.screen.query_one("#preview-counts").render()),
            "preview",
        )  # type: ignore[arg-type]
        await keys.press("ctrl+s")
        await finish_progress(pilot)
        assert keys.count <= 8, keys.count
        by_name = {row.name: row.id for row in data_of(app).table}
        for name in names:
            tags = json.loads(await field_of(app, by_name[name], "tags"))
            assert ("wave-3" in tags) is (name not in left_out), name
        print(f"tag a filtered set but three: {keys.count} keys")


async def test_export_the_audit_of_the_last_operation_takes_at_most_five_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # the export's suggested path is under ~
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        # Two operations: the export must take only the last one.
        for tag in ("team-d", "team-e"):
            await pilot.press("slash", "ctrl+u", *f"tag:{tag}", "enter", "U", "asterisk", "d")
            await wait_for_screen(pilot, "StatusChangeScreen")
            await pilot.pause(0.5)
            await pilot.press("enter")
            progress = await finish_progress(pilot)
            await pilot.press("enter")
            await wait_for_screen(pilot, "KeyListScreen")
            await pilot.pause(0.5)
        assert progress.outcome is not None
        op_id = progress.outcome.op_id
        keys = Keys(pilot)
        await keys.press("o")
        await wait_for_screen(pilot, "OperationsScreen")
        await wait_for(pilot, lambda: app.screen.query_one("#ops").row_count >= 1, "listed")  # type: ignore[attr-defined]
        await keys.press("x")
        await wait_for_screen(pilot, "ExportScreen")
        await keys.press("enter")
        target = tmp_path / f"keyops-audit-{op_id}.csv"
        await wait_for(pilot, target.exists, "export written")
        await pilot.pause(0.2)
        assert keys.count <= 5, keys.count
        with target.open() as handle:
            rows = list(csv.DictReader(handle))
        assert rows and {row["op_id"] for row in rows} == {op_id}
        changed = [row for row in rows if row["field"] == "isActive"]
        assert len(changed) == progress.outcome.counts.applied
        print(f"export the last operation's audit: {keys.count} keys")


async def test_a_key_burning_money_from_launch_to_disabled_takes_five_keys() -> None:
    """docs/user-guide.md, "A key is burning money": on a real CRS's dump, the top spender
    found, looked at (its answer, limits and models) and disabled."""
    app = usage_fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        burner = usage_expected()["keys"]["alpha-console-1"]["id"]  # $28.68 today, no limits
        keys = Keys(pilot)
        await keys.press("dollar_sign")  # top spenders today, the cursor on the first
        view = key_view(app)
        await wait_for(pilot, lambda: getattr(view.highlighted, "id", "") == burner, "on top")
        await keys.press("enter")  # its detail: CRS's answer, limit bars, per-model use
        await wait_for_screen(pilot, "KeyDetailScreen")
        await wait_for(pilot, lambda: "claude-opus" in static_text(app, "#usage"), "its models")
        await keys.press("escape", "d")
        await wait_for_screen(pilot, "StatusChangeScreen")
        await wait_for(
            pilot,
            lambda: "change" in str(app.screen.query_one("#status-counts").render()),
            "preview",
        )  # type: ignore[arg-type]
        await keys.press("enter")
        await finish_progress(pilot)
        assert keys.count <= 5, keys.count
        assert await field_of(app, burner, "isActive") == "false"
        print(f"a key burning money, launch to disabled: {keys.count} keys")
