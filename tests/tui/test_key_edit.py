"""The edit form on the demo store: what each field says the keys hold now, checks as typed,
and the read-only rule for the form, delete and purge."""

from __future__ import annotations

from collections import Counter

import pytest
from textual.containers import VerticalScroll
from textual.widgets import Input

from keyops.core.api import BadRequest, LimitsSet
from keyops.tui.app import KeyopsApp
from tests.tui.conftest import (
    demo_app,
    static_text,
    type_filter,
    wait_for,
    wait_loaded,
    wait_screen,
)

SIZE = (80, 24)


def targets(app: KeyopsApp) -> list[str]:
    assert app.data is not None
    return app.data.marked_ids()


async def test_each_field_says_how_its_values_spread_over_the_marked_keys() -> None:
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "tag:team-a")
        await pilot.press("asterisk", "f")
        await wait_screen(pilot, "KeyEditScreen")
        await wait_for(
            pilot, lambda: "keys" in static_text(app, "#spread-concurrency"), "spread read"
        )
        assert app.data is not None
        read = app.data.session.clients.read
        held = Counter(
            [
                await read.hget(f"apikey:{key_id}", "concurrencyLimit") or "0"
                for key_id in targets(app)
            ]
        )
        (top, top_count), *rest = held.most_common()
        expected = f"{top} on {top_count} keys" + "".join(f", {v} on {n}" for v, n in rest)
        assert len(held) > 1, "the sample's team-a keys hold more than one concurrency"
        assert static_text(app, "#spread-concurrency").strip() == expected
        assert static_text(app, "#spread-permissions").strip() == (
            f"all on all {len(targets(app))} keys"
        )


async def test_a_bad_value_is_shown_under_its_field_and_blocks_the_confirm() -> None:
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "tag:team-a")
        await pilot.press("asterisk", "f")
        await wait_screen(pilot, "KeyEditScreen")
        # concurrency 1.5 (CRS wants a whole number), weekly reset 9@0 (no day 9)
        await pilot.press("tab", *"1.5", *["tab"] * 7, *"9@0")
        await wait_for(
            pilot, lambda: "not a whole number" in static_text(app, "#error-concurrency"), "error"
        )
        assert "DAY@HOUR" in static_text(app, "#error-weekly_reset")
        assert static_text(app, "#error-token_limit").strip() == ""
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        assert type(app.screen).__name__ == "KeyEditScreen"  # no confirm, nothing run
        assert app.data is not None
        read = app.data.session.clients.read
        assert all(
            [await read.hget(f"apikey:{k}", "concurrencyLimit") != "1.5" for k in targets(app)]
        )
        # Fixed, the form previews and goes on to the confirm.
        app.screen.query_one("#edit-concurrency").value = "3"  # type: ignore[attr-defined]
        app.screen.query_one("#edit-weekly_reset").value = "tue@4"  # type: ignore[attr-defined]
        await wait_for(pilot, lambda: "change" in static_text(app, "#edit-preview"), "preview")
        await pilot.press("ctrl+s")
        await wait_screen(pilot, "BatchConfirmScreen")


async def test_a_problem_names_the_form_field_while_the_cli_keeps_its_option() -> None:
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("f")
        await wait_screen(pilot, "KeyEditScreen")
        await pilot.press("tab", "tab", "x")  # rate window
        await wait_for(pilot, lambda: "x" in static_text(app, "#error-rate_window"), "error")
        assert static_text(app, "#error-rate_window").strip() == (
            "rate window: 'x' is not a number"
        )
        app.screen.query_one("#edit-expiry", Input).value = "soon"
        await wait_for(pilot, lambda: "soon" in static_text(app, "#error-expiry"), "error")
        assert static_text(app, "#error-expiry").startswith("expiry: 'soon' is not a date")
        app.screen.query_one("#edit-models", Input).value = "add"
        await wait_for(pilot, lambda: "add" in static_text(app, "#error-models"), "error")
        assert static_text(app, "#error-models").strip() == (
            "model restriction: add needs at least one name"
        )
    with pytest.raises(BadRequest, match="--rate-window 'x' is not a number"):
        LimitsSet.build({"rate_window": "x"})


async def test_the_last_field_scrolls_into_view_with_its_hint_and_ctrl_s_at_80x24() -> None:
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("f")
        await wait_screen(pilot, "KeyEditScreen")
        # Two problems above push the last fields below the form's bottom edge.
        await pilot.press("tab", "x", "tab", "x", "tab", "x")
        await pilot.press(*["tab"] * 11)
        screen = app.screen
        field = screen.query_one("#edit-description", Input)
        assert screen.focused is field
        await pilot.pause(0.2)
        fields = screen.query_one("#edit-fields", VerticalScroll)
        assert fields.scroll_y > 0, "the form scrolled"
        assert fields.region.contains_region(field.region), "the focused field is on screen"
        hint = static_text(app, "#edit-hint")
        assert hint.startswith("description: the new description")
        assert "ctrl+s preview" in hint
        assert screen.query_one("#edit-hint").region.bottom <= SIZE[1]


async def test_client_ids_are_offered_as_they_are_typed() -> None:
    app = demo_app(300)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("f")
        await wait_screen(pilot, "KeyEditScreen")
        clients = app.screen.query_one("#edit-clients", Input)
        clients.focus()
        await pilot.press(*"add cl")
        await pilot.pause(0.2)
        await pilot.press("right")  # takes the id offered
        assert clients.value == "add claude_code"
        await pilot.press(*",ge")
        await pilot.pause(0.2)
        await pilot.press("right")
        assert clients.value == "add claude_code,gemini_cli"
        # The preview follows the last value checked (a loaded machine checks ",ge" first).
        wanted = "clients allow add: claude_code, gemini_cli"
        await wait_for(pilot, lambda: wanted in static_text(app, "#edit-preview"), "preview")
        assert static_text(app, "#error-clients").strip() == ""
        clients.value = "add claude"
        await wait_for(pilot, lambda: "not a client" in static_text(app, "#error-clients"), "")
        assert "claude_code, gemini_cli, codex_cli, droid_cli" in static_text(app, "#error-clients")


async def test_a_read_only_session_opens_no_form_delete_or_purge() -> None:
    app = demo_app(300, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        for key in ("f", "x", "r", "P"):
            await pilot.press(key)
            await pilot.pause(0.1)
            assert type(app.screen).__name__ == "KeyListScreen", key
        messages = [n.message for n in app._notifications]
        assert sum("Read-only session" in m for m in messages) == 4
        # The deleted view only reads: it still works.
        await pilot.press("D")
        await wait_for(
            pilot,
            lambda: "status:deleted" in app.screen.query_one("#filter").value,
            "view",  # type: ignore[attr-defined]
        )
