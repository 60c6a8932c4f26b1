"""Undo, read-only and feedback: `u` reverts this console's last operation (preview, then
confirm), the palette offers it as undo and revert, the operations list follows a revert, an
enable after a disable says when revert is the right tool, and a read-only session says why
each write key does nothing, hides them from the footer and shows its banner on every screen."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable

from keyops.tui.app import KeyopsApp
from tests.tui.conftest import (
    add_tag_to_marked,
    demo_app,
    finish_progress,
    shown_names,
    static_text,
    type_filter,
    wait_for,
    wait_loaded,
    wait_screen,
)
from tests.tui.test_console import palette_titles


def notes(app: KeyopsApp) -> str:
    return "\n".join(str(note.message) for note in app._notifications)


def footer_keys(app: KeyopsApp) -> set[str]:
    return {str(key.key) for key in app.screen.query("FooterKey")}  # type: ignore[attr-defined]


async def stored_tags(app: KeyopsApp, names: list[str]) -> dict[str, str | None]:
    assert app.data is not None
    by_name = {row.name: row.id for row in app.data.table}
    read = app.data.session.clients.read
    return {name: await read.hget(f"apikey:{by_name[name]}", "tags") for name in names}


async def tag_team_e(pilot: Pilot[Any], tag: str) -> tuple[list[str], str]:
    app = pilot.app
    assert isinstance(app, KeyopsApp)
    await type_filter(pilot, "tag:team-e")
    names = shown_names(app)
    await pilot.press("asterisk")
    screen = await add_tag_to_marked(pilot, tag)
    assert screen.outcome is not None
    await pilot.press("enter")
    await wait_screen(pilot, "KeyListScreen")
    return names, screen.outcome.op_id


async def test_u_reverts_this_consoles_last_operation_after_a_preview() -> None:
    app = demo_app(300)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("u")  # nothing done yet: says so, opens nothing
        await wait_for(pilot, lambda: "Nothing to undo" in notes(app), "nothing to undo")
        assert type(app.screen).__name__ == "KeyListScreen"
        await type_filter(pilot, "tag:team-e")
        before = await stored_tags(app, shown_names(app))
        names, op_id = await tag_team_e(pilot, "undome")
        assert all("undome" in (tags or "") for tags in (await stored_tags(app, names)).values())
        await pilot.press("u")
        await wait_screen(pilot, "BatchConfirmScreen")  # the preview: counts and a sample
        assert f"planning revert of {len(names):,} keys" in notes(app)
        assert op_id in static_text(app, "#confirm-summary")
        assert f"{len(names)} change" in static_text(app, "#confirm-counts")
        await pilot.press("enter")
        await finish_progress(pilot)
        assert await stored_tags(app, names) == before


async def test_the_palette_offers_undo_as_undo_and_as_revert() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await tag_team_e(pilot, "palette")
        for word in ("undo", "revert"):
            await pilot.press("ctrl+p")
            await wait_screen(pilot, "CommandPalette")
            await pilot.press(*word)
            await wait_for(
                pilot, lambda: any("Undo last operation" in t for t in palette_titles(app)), word
            )
            await pilot.press("escape")
            await wait_screen(pilot, "KeyListScreen")
        await pilot.press("colon", *"undo", "enter")
        await wait_screen(pilot, "BatchConfirmScreen")
        await pilot.press("escape")


async def test_the_operations_list_shows_a_revert_without_a_reload() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        _, op_id = await tag_team_e(pilot, "opsrefresh")
        await pilot.press("o")
        await wait_screen(pilot, "OperationsScreen")
        ops = app.screen.query_one("#ops", DataTable)
        await wait_for(pilot, lambda: ops.row_count == 1, "operation listed")
        await pilot.press("r")
        await wait_screen(pilot, "BatchConfirmScreen")
        await pilot.press("enter")
        await finish_progress(pilot)
        await pilot.press("enter")
        await wait_screen(pilot, "OperationsScreen")
        await wait_for(pilot, lambda: ops.row_count == 2, "the revert listed")
        assert ops.get_row_at(1)[0] == op_id
        assert ops.get_row_at(0)[4].startswith("revert")


async def test_enable_after_a_disable_warns_about_keys_disabled_before_it() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "tag:team-e status:active")
        await pilot.press("d")  # the highlighted key first: disabled before the next op
        await wait_screen(pilot, "StatusChangeScreen")
        await wait_for(pilot, lambda: "1 change" in static_text(app, "#status-counts"), "plan")
        await pilot.press("enter")
        await finish_progress(pilot)
        await pilot.press("enter")
        await wait_screen(pilot, "KeyListScreen")
        app.screen.query_one("#filter").value = ""  # type: ignore[attr-defined]
        await type_filter(pilot, "tag:team-e")
        await pilot.press("asterisk", "d")
        await wait_screen(pilot, "StatusChangeScreen")
        await wait_for(pilot, lambda: "change" in static_text(app, "#status-counts"), "plan")
        await pilot.press("enter")
        screen = await finish_progress(pilot)
        assert screen.outcome is not None
        disable_op = screen.outcome.op_id
        await pilot.press("enter")
        await wait_screen(pilot, "KeyListScreen")
        await pilot.press("e")
        await wait_screen(pilot, "StatusChangeScreen")
        await wait_for(
            pilot,
            lambda: (
                f"already disabled before op {disable_op}" in static_text(app, "#status-undo-hint")
            ),
            "the undo hint",
        )
        assert "u on the key list reverts" in static_text(app, "#status-undo-hint")
        await pilot.press("escape")


async def test_read_only_says_why_each_write_key_does_nothing_and_hides_them() -> None:
    app = demo_app(300, read_only=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        assert not {"t", "a", "e", "d", "u"} & footer_keys(app)
        assert "o" in footer_keys(app)
        for key in ("t", "a", "e", "d", "u"):
            count = len(app._notifications)
            await pilot.press(key)
            await wait_for(
                pilot, lambda count=count: len(app._notifications) > count, f"{key} refused"
            )
            assert "Read-only session" in notes(app) and "nothing is written" in notes(app)
            assert type(app.screen).__name__ == "KeyListScreen", key
        await pilot.press("o")
        await wait_screen(pilot, "OperationsScreen")
        assert "READ-ONLY" in static_text(app, "#read-only-banner")
        assert not {"r", "R"} & footer_keys(app)
        count = len(app._notifications)
        await pilot.press("r")
        await wait_for(pilot, lambda: len(app._notifications) > count, "revert refused")
        assert "revert is off" in notes(app)
        await pilot.press("question_mark")
        await wait_screen(pilot, "HelpScreen")
        assert "(off: read-only)" in static_text(app, "#help-keys")
        await pilot.press("escape", "escape")
        await wait_screen(pilot, "KeyListScreen")
        await pilot.press("enter")
        await wait_screen(pilot, "KeyDetailScreen")


async def test_every_full_screen_shows_the_read_only_banner() -> None:
    app = demo_app(300, read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        assert "READ-ONLY" in static_text(app, "#banner")
        await pilot.press("o")
        await wait_screen(pilot, "OperationsScreen")
        assert "READ-ONLY" in static_text(app, "#read-only-banner")
