"""At 80x24 the console shows what a decision needs: nothing decided is cut off, help is always
one key away, rows and checkboxes read without colour, the accounts dialog moves keys in one
action, and the operations screen filters, opens and exports as its help says."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Checkbox, DataTable, Input, Select

from keyops.tui.app import KeyopsApp, console_classes
from keyops.tui.screens.base import ConsoleScreenMixin
from keyops.tui.widgets.key_list_view import layout_columns
from tests.tui.conftest import (
    demo_app,
    finish_progress,
    static_text,
    type_filter,
    wait_for,
    wait_loaded,
    wait_screen,
)

SIZE = (80, 24)
LONG_TAG = "wave-3-" + "x" * 49 + "-the-end"  # 64 characters: the longest tag CRS takes


def screen_text(app: KeyopsApp) -> str:
    """The whole terminal as text, as the operator sees it."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def data_of(app: KeyopsApp):  # type: ignore[no-untyped-def]
    assert app.data is not None
    return app.data


async def assign_shared_console_account(pilot: Any, app: KeyopsApp) -> None:
    """In the open accounts dialog, picks the shared console account for the marked keys
    (some are bound elsewhere) and waits for the preview to count the conflicts."""
    shared = next(a for a in data_of(app).catalog.all_accounts() if a.name == "console-loop-shared")
    app.screen.query_one("#assign-claudeConsoleAccountId", Select).value = f"account:{shared.id}"
    await wait_for(pilot, lambda: "conflicts" in static_text(app, "#assign-counts"), "preview")


async def disable_tag(pilot: Any, tag: str) -> str:
    """Disables the keys with this tag from the key list; returns the operation id."""
    await pilot.press("slash", "ctrl+u", *f"tag:{tag}", "enter", "U", "asterisk", "d")
    await wait_screen(pilot, "StatusChangeScreen")
    await pilot.pause(0.5)
    await pilot.press("enter")
    progress = await finish_progress(pilot)
    assert progress.outcome is not None
    await pilot.press("enter")
    await wait_screen(pilot, "KeyListScreen")
    return progress.outcome.op_id


async def test_the_footer_shows_help_on_every_screen_with_one() -> None:
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "tag:team-a")
        await pilot.press("asterisk")
        assert "? Help" in screen_text(app).splitlines()[-1]
        await pilot.press("o")
        await wait_screen(pilot, "OperationsScreen")
        await pilot.pause(0.3)
        assert "? Help" in screen_text(app).splitlines()[-1]


async def test_the_key_list_footer_keeps_the_on_call_keys_whole_at_80_columns() -> None:
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        footer = screen_text(app).splitlines()[-1]
        for key in ("space Mark", "/ Filter", "t Tags", "a Accounts", "f Fields"):
            assert f"{key}  " in footer, (key, footer)
        assert footer.rstrip().endswith("? Help ▏^p Palette")
        # Wider, the footer takes in more keys, in the same order.
        await pilot.resize_terminal(100, 30)
        await pilot.pause(0.3)
        wide = screen_text(app).splitlines()[-1]
        assert "d Disable" in wide and wide.index("a Accounts") < wide.index("f Fields")
        assert wide.rstrip().endswith("? Help ▏^p Palette")


async def test_checkboxes_read_ticked_or_not_without_colour() -> None:
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("a")
        await wait_screen(pilot, "AccountAssignScreen")
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "[ ] overwrite keys bound elsewhere" in text
        assert "[x] atomic" in text
        app.screen.query_one("#overwrite", Checkbox).value = True
        await pilot.pause(0.2)
        assert "[x] overwrite keys bound elsewhere" in screen_text(app)


async def test_names_that_share_their_start_are_told_apart_in_the_list() -> None:
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "name:team-a-*")
        view = app.screen.query_one("#keys")
        width = view.scrollable_content_region.width  # type: ignore[attr-defined]
        name_width = layout_columns(width)[0][1]
        visible = view.scrollable_content_region.height - 1  # type: ignore[attr-defined]
        names = [row.name for row in view.rows][:visible]  # type: ignore[attr-defined]
        assert len(names) > 5 and all(len(name) > name_width for name in names)
        cells = [
            view.render_line(y).text[2 : 2 + name_width]  # type: ignore[attr-defined]
            for y in range(1, len(names) + 1)
        ]
        assert len(set(cells)) == len(names), cells


async def test_the_tag_being_added_is_shown_whole() -> None:
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "tag:team-a")
        await pilot.press("asterisk", "t")
        await wait_screen(pilot, "TagEditorScreen")
        app.screen.query_one("#add-tags", Input).value = LONG_TAG
        await wait_for(
            pilot, lambda: "unchanged" in static_text(app, "#preview-counts", 76), "preview"
        )
        # The editor's dialog is 76 cells wide inside: the tag must be there in one piece.
        assert LONG_TAG in screen_text(app)
        assert "ctrl+s apply" in screen_text(app)  # and the dialog's keys are still on screen


async def test_a_conflict_says_what_the_key_is_bound_to_in_full() -> None:
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "name:alpha-console-1")
        await pilot.press("space", "a")
        await wait_screen(pilot, "AccountAssignScreen")
        await assign_shared_console_account(pilot, app)
        conflicts = static_text(app, "#assign-conflicts", 76)
        assert "…" not in conflicts
        assert "console-loop-dedicated" in " ".join(conflicts.split())


async def test_tab_through_the_accounts_dialog_lands_only_on_visible_controls() -> None:
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("a")
        await wait_screen(pilot, "AccountAssignScreen")
        seen = []
        for _ in range(12):
            focused = app.focused
            assert isinstance(focused, (Select, Checkbox)), focused
            seen.append(focused.id)
            await pilot.press("tab")
        # Every field and every box took the focus once per round.
        assert {"overwrite", "force", "atomic", "assign-claudeAccountId"} <= set(seen)


async def test_a_move_is_one_action_that_leaves_other_keys_alone() -> None:
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        data = data_of(app)
        accounts = {a.name: a for a in data.catalog.all_accounts()}
        old = accounts["console-loop-dedicated"]
        # Opened on one key: the move takes every live key on that key's account.
        await type_filter(pilot, "name:alpha-console-1")
        await pilot.press("m")
        await wait_screen(pilot, "AccountMoveScreen")
        await pilot.pause(0.2)
        on_old = [r.id for r in data.table if not r.is_deleted and old.id in r.bindings]
        assert f"console-loop-dedicated · {len(on_old)} keys" in screen_text(app)
        # Nothing is picked for the operator.
        assert "pick a target" in screen_text(app)
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert type(app.screen).__name__ == "AccountMoveScreen"
        new = accounts["console-loop-shared"]
        app.screen.query_one("#move-to", Select).value = f"account:{new.id}"
        await wait_for(
            pilot, lambda: f"{len(on_old)} change" in static_text(app, "#assign-counts"), "preview"
        )
        counts = static_text(app, "#assign-counts")
        assert "conflicts" not in counts
        assert "move console keys from console-loop-dedicated to console-loop-shared" in " ".join(
            counts.split()
        )
        # The sample names accounts, never their ids.
        sample = static_text(app, "#assign-sample")
        assert new.id not in sample and old.id not in sample and "console=console-loop" in sample


async def test_the_operations_filter_works_while_typing_and_uses_the_row_words() -> None:
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await disable_tag(pilot, "team-e")
        await pilot.press("t", *"after-tag")  # a tag edit as well, on the keys still marked
        await wait_for(pilot, lambda: "unchanged" in static_text(app, "#preview-counts"), "preview")
        await pilot.press("ctrl+s")
        await finish_progress(pilot)
        await pilot.press("enter")
        await wait_screen(pilot, "KeyListScreen")
        await pilot.press("o")
        await wait_screen(pilot, "OperationsScreen")
        ops = app.screen.query_one("#ops", DataTable)
        await wait_for(pilot, lambda: ops.row_count == 2, "both listed")
        what = {str(ops.get_row_at(i)[4]).split()[0] for i in range(2)}
        assert what == {"disable", "tags"}
        await pilot.press("slash", *"type:disable")  # no enter: it filters as you type
        await wait_for(pilot, lambda: ops.row_count == 1, "filtered while typing")
        assert str(ops.get_row_at(0)[4]) == "disable"
        await pilot.press(*"x")  # type:disablex: a mistake lists nothing to act on
        await wait_for(pilot, lambda: ops.row_count == 0, "a bad filter lists nothing")
        assert "not an operation type" in static_text(app, "#ops-error")
        await pilot.press("backspace")
        await wait_for(pilot, lambda: ops.row_count == 1, "fixed")


async def test_enter_opens_an_operations_keys_and_the_after_value_is_shown_whole() -> None:
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "name:eta-limited")
        await pilot.press("space", "t")
        await wait_screen(pilot, "TagEditorScreen")
        app.screen.query_one("#add-tags", Input).value = LONG_TAG
        await wait_for(pilot, lambda: "1 change" in static_text(app, "#preview-counts"), "preview")
        await pilot.press("ctrl+s")
        await finish_progress(pilot)
        await pilot.press("enter")
        await wait_screen(pilot, "KeyListScreen")
        await pilot.press("o")
        await wait_screen(pilot, "OperationsScreen")
        entries = app.screen.query_one("#entries", DataTable)
        await wait_for(pilot, lambda: entries.row_count == 1, "the key's change")
        title = static_text(app, "#entries-title")
        assert "1 entries, 1 rows" in title
        await pilot.press("enter")
        assert app.focused is entries
        detail = " ".join(static_text(app, "#entry-detail", 78).split())
        assert "eta-limited" in detail and LONG_TAG in detail.replace(" ", "")
        await pilot.press("escape")
        assert app.focused is app.screen.query_one("#ops", DataTable)


async def test_export_states_its_scope_and_takes_the_highlighted_operation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        first = await disable_tag(pilot, "team-d")
        await disable_tag(pilot, "team-e")
        await pilot.press("o")
        await wait_screen(pilot, "OperationsScreen")
        ops = app.screen.query_one("#ops", DataTable)
        await wait_for(pilot, lambda: ops.row_count == 2, "listed")
        await pilot.press("down")  # the older one
        await pilot.press("x")
        await wait_screen(pilot, "ExportScreen")
        assert f"operation {first}" in screen_text(app)
        await pilot.press("enter")
        target = tmp_path / f"keyops-audit-{first}.csv"
        await wait_for(pilot, lambda: "written" in static_text(app, "#export-result"), "written")
        with target.open() as handle:
            rows = list(csv.DictReader(handle))
        assert {row["op_id"] for row in rows} == {first}
        entries = len({(row["entry_id"], row["key_id"]) for row in rows})
        assert f"{entries} entries ({len(rows)} CSV rows)" in static_text(app, "#export-result")


async def test_help_names_the_screen_in_words() -> None:
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("question_mark")
        await wait_screen(pilot, "HelpScreen")
        assert "Help — Key list" in screen_text(app)
    screens = [
        c
        for c in console_classes()
        if issubclass(c, ConsoleScreenMixin) and not c.__module__.endswith(".base")
    ]
    assert screens and all(c.HELP_TITLE for c in screens), [
        c.__name__ for c in screens if not c.HELP_TITLE
    ]


async def test_the_palette_shows_keys_and_offers_global_actions_in_a_dialog() -> None:
    from textual.command import CommandList

    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("ctrl+p", *"Disable")
        await wait_screen(pilot, "CommandPalette")
        await pilot.pause(0.5)
        assert "d · Disable the marked keys" in screen_text(app)
        await pilot.press("escape")
        await wait_screen(pilot, "KeyListScreen")
        await pilot.press("t")
        await wait_screen(pilot, "TagEditorScreen")
        await pilot.press("ctrl+p")
        await wait_screen(pilot, "CommandPalette")
        options = app.screen.query_one(CommandList)
        await wait_for(pilot, lambda: options.option_count >= 3, "commands")
        prompts = " | ".join(
            str(options.get_option_at_index(i).prompt) for i in range(options.option_count)
        )
        assert "Operations and audit" in prompts and "Help" in prompts


async def test_the_range_hint_fits_beside_the_counts() -> None:
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("v", "down", "down")
        await pilot.pause(0.2)
        status = screen_text(app).splitlines()[-2]
        assert "shown of 300 keys" in status and "esc cancels" in status, status


async def test_the_accounts_dialog_keeps_its_keys_on_screen_with_conflicts() -> None:
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "tag:team-a")
        await pilot.press("asterisk", "a")
        await wait_screen(pilot, "AccountAssignScreen")
        await assign_shared_console_account(pilot, app)
        assert "ctrl+s apply" in screen_text(app)


async def test_a_disable_with_nothing_marked_names_the_one_key_it_would_write() -> None:
    """`d` with nothing marked acts on the highlighted key: the dialog says which key that is
    (not "Disable 1 keys") and shows the change it makes before enter."""
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "status:active")
        highlighted = data_of(app).sorted_rows[0]
        await pilot.press("d")
        await wait_screen(pilot, "StatusChangeScreen")
        await wait_for(pilot, lambda: "isActive" in screen_text(app), "the preview")
        text = screen_text(app)
        assert f"Disable 1 key: {highlighted.name} ({highlighted.id[:8]})" in text
        assert "1 keys" not in text
        assert "isActive=true" in text and "isActive=false" in text
