"""The key list: filter as you type, marks that survive filters, ranges, sorting, details."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Static

from keyops.tui.app import KeyopsApp
from tests.tui.conftest import (
    demo_app,
    key_view,
    shown_names,
    static_text,
    status_line,
    type_filter,
    wait_for,
    wait_loaded,
    wait_screen,
)


async def test_demo_lists_every_key_and_filters_as_you_type() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        # Deleted keys are hidden unless asked for (status:deleted).
        assert status_line(app).startswith("0 marked · 295 shown of 300 keys")
        await pilot.press("slash", *"tag:i18n")
        await wait_for(pilot, lambda: len(key_view(app).rows) == 1, "filtered to one key")
        assert shown_names(app) == ["kappa-Unicode-名字"]
        assert status_line(app).startswith("0 marked · 1 shown of 300 keys")


async def test_the_first_screen_says_why_deleted_keys_are_missing_and_what_bound_to_means() -> None:
    app = demo_app(300)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_loaded(pilot)
        deleted = sum(1 for row in app.data.table if row.is_deleted) if app.data else 0
        assert deleted == 5
        line = status_line(app)
        assert "295 shown of 300 keys · as of 03:00:00 UTC · 0 s ago" in line
        assert "· 5 deleted hidden (status:deleted) · sort" in line
        header = key_view(app).render_line(0).text
        assert "bound to" in header and "bindings" not in header
        await type_filter(pilot, "status:deleted")
        await wait_for(pilot, lambda: len(key_view(app).rows) == 5, "the deleted keys listed")
        assert "deleted hidden" not in status_line(app)
        await pilot.press("escape", "question_mark")
        await wait_screen(pilot, "HelpScreen")
        help_text = static_text(app, "#help-text")
        assert "bound to" in help_text and "shared pool" in help_text
        assert "status:deleted" in help_text


async def test_a_bad_query_is_marked_and_shows_no_keys() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "tag:prod")
        assert shown_names(app)
        # Pasted in one go: while typing, each valid prefix would filter on its own.
        app.screen.query_one("#filter", Input).value = "tag:prod colour:red"
        await pilot.pause(0.1)
        error = app.screen.query_one("#filter-error", Static)
        assert error.has_class("visible")
        assert "unknown filter 'colour:'" in str(error.render())
        assert "^" in str(error.render())
        # Nothing of the earlier result stays: the list shows what an action would act on.
        assert shown_names(app) == []
        assert "0 shown of 300 keys (invalid filter)" in status_line(app)


def notes(app: KeyopsApp) -> list[str]:
    return [note.message for note in app._notifications]


async def test_a_fast_typed_invalid_query_leaves_nothing_to_mark_or_act_on() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        # Typed without a pause (each valid prefix, "tag:team-a status:act", matches keys)
        # and acted on at once: enter, then every way to mark, then every action.
        await pilot.press("slash", *"tag:team-a status:actve", "enter")
        await pilot.press("asterisk", "space", "v", "d", "e", "t", "a")
        await pilot.pause(0.2)
        assert app.screen.query_one("#filter-error", Static).has_class("visible")
        assert shown_names(app) == []
        assert status_line(app).startswith("0 marked · 0 shown of 300 keys (invalid filter)")
        assert type(app.screen).__name__ == "KeyListScreen"  # no dialog opened
        refusals = [note for note in notes(app) if "the filter is invalid" in note]
        assert len(refusals) == 7  # one note per refused key, each saying why
        assert "esc to clear it" in refusals[0]

        # Fixed by hand, the same keys act on what the corrected query shows.
        await pilot.press("slash", "end", "backspace", "backspace", *"ive", "enter", "asterisk")
        await pilot.pause(0.1)
        shown = shown_names(app)
        assert shown and status_line(app).startswith(f"{len(shown)} marked · {len(shown)} shown")


async def test_a_stale_scan_never_lands_after_an_invalid_query(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from keyops.tui.screens import key_list

    monkeypatch.setattr(key_list, "FILTER_SLICE", 10)  # the valid query scans for many turns
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        box = app.screen.query_one("#filter", Input)
        box.value = "team"
        await pilot.pause(0)  # its scan has begun and is still running
        box.value = "team status:actve"
        # Within the keystroke-coalescing window the old scan adds no more rows, then the
        # invalid query empties the list.
        await wait_for(pilot, lambda: shown_names(app) == [], "the invalid query applied", 2)
        for _ in range(5):  # turns enough for the old scan to have finished, had it gone on
            await pilot.pause(0.05)
            assert shown_names(app) == []


async def test_a_key_pressed_while_a_filter_scans_is_handled_before_the_scan_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # At 100,000 keys a whole scan is 50-70 ms: a key pressed meanwhile must wait one slice,
    # not the whole scan. Five rows a slice here: 60 slices, each its own event-loop turn.
    import asyncio

    from textual import events

    from keyops.tui.screens import key_list

    monkeypatch.setattr(key_list, "FILTER_SLICE", 5)
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        screen = app.screen
        assert isinstance(screen, key_list.KeyListScreen)
        view = key_view(app)
        screen.run_filter()  # every key again, from the first slice
        down = events.Key("down", None)
        down.set_sender(app)
        app._driver.send_message(down)  # as the terminal sends it  # type: ignore[union-attr]
        for _ in range(50):
            if view.cursor == 1:
                break
            await asyncio.sleep(0)
        assert view.cursor == 1, "the key waited for the scan"
        assert "(filtering…)" in status_line(app)
        await wait_for(pilot, lambda: "filtering" not in status_line(app), "the scan ended")
        assert view.cursor == 1
        assert status_line(app).startswith("0 marked · 295 shown of 300 keys")


async def test_escape_after_an_invalid_query_acts_only_on_what_is_shown() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        first = key_view(app).rows[0].id  # the list with an empty box
        await pilot.press("slash", *"tag:team-a status:actve", "escape", "d")
        await wait_screen(pilot, "StatusChangeScreen")
        # The box is empty, so the list shows every key; nothing is marked, so `d` acts on
        # the highlighted key alone, never on what an earlier query matched.
        assert app.screen.key_ids == [first]  # type: ignore[attr-defined]


async def test_escape_clears_the_filter() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        before = status_line(app)
        await type_filter(pilot, "status:disabled")
        assert status_line(app) != before
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert status_line(app) == before


async def test_marks_survive_a_new_filter_and_star_marks_what_is_shown() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "tag:team-d")
        team_d = set(shown_names(app))
        await pilot.press("asterisk")
        await pilot.pause()
        assert status_line(app).startswith(f"{len(team_d)} marked · {len(team_d)} shown")
        await type_filter(pilot, "tag:i18n")
        await pilot.press("space")  # marks kappa too; the team-d marks stay
        await pilot.pause()
        assert status_line(app).startswith(f"{len(team_d) + 1} marked · 1 shown")
        marked = {row.name for row in app.data.marked_rows()}  # type: ignore[union-attr]
        assert marked == team_d | {"kappa-Unicode-名字"}
        await pilot.press("U")
        await pilot.pause()
        assert status_line(app).startswith("0 marked")


async def test_space_marks_and_moves_and_v_marks_a_range() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        names = shown_names(app)
        await pilot.press("space")  # marks row 0, cursor to row 1
        await pilot.press("down", "v", "down", "down", "down")
        await pilot.pause()
        assert "range:" in status_line(app)
        await pilot.press("v")  # rows 2..5
        await pilot.pause()
        marked = {row.name for row in app.data.marked_rows()}  # type: ignore[union-attr]
        assert marked == {names[0], *names[2:6]}
        # Space again unmarks a single key.
        await pilot.press("home", "space")
        await pilot.pause()
        assert status_line(app).startswith("4 marked")


async def test_escape_cancels_a_range_before_it_marks_anything() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("v", "down", "down", "escape")
        await pilot.pause()
        assert "range:" not in status_line(app)
        await pilot.press("v")  # starts a new range: nothing was marked by the cancelled one
        await pilot.pause()
        assert status_line(app).startswith("0 marked")


async def test_sort_cycles_columns_and_reverses() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        by_name = shown_names(app)
        assert by_name == sorted(by_name, key=str.casefold)
        await pilot.press("S")  # name, reversed
        await pilot.pause(0.1)
        assert shown_names(app) == by_name[::-1]
        assert "sort: name ▼" in status_line(app)
        await pilot.press("S", "s")  # status, ascending: disabled and expired keys after active
        await pilot.pause(0.1)
        statuses = [row.status(app.clock()).value for row in key_view(app).rows]
        assert statuses.index("disabled") > statuses.index("active")
        assert statuses == sorted(statuses, key=["active", "disabled", "expired"].index)
        assert "status ▲" in key_view(app).render_line(0).text


async def test_the_cursor_moves_by_page_and_jumps_to_the_ends() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        view = key_view(app)
        await pilot.press("pagedown")
        assert view.cursor == view.page_height
        await pilot.press("G")
        assert view.cursor == len(view.rows) - 1
        # The last row is on screen: rendering is only of what is visible.
        last = view.rows[-1].name
        assert any(last[:10] in view.render_line(y).text for y in range(1, view.size.height))
        await pilot.press("g")
        assert view.cursor == 0


async def test_details_show_every_field_but_never_the_secret() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "name:delta-bedrock")
        await pilot.press("enter")
        await wait_screen(pilot, "KeyDetailScreen")
        await wait_for(pilot, lambda: "isActive" in static_text(app, "#fields"), "fields read")
        data = app.data
        assert data is not None
        key = next(row for row in data.table if row.name == "delta-bedrock")
        secret = await data.session.clients.read.hget(f"apikey:{key.id}", "apiKey")
        assert secret
        fields = static_text(app, "#fields")
        assert secret not in fields and secret not in app.export_screenshot()
        assert "has_secret" in fields and "apiKey" not in fields
        # Bindings are shown by account name, with the stored value beside it.
        assert "bedrock-fake-dedicated" in fields
        await pilot.press("escape")
        await wait_screen(pilot, "KeyListScreen")


async def test_a_filter_scanned_in_slices_shows_the_same_keys_and_star_waits_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from keyops.tui.screens import key_list

    monkeypatch.setattr(key_list, "FILTER_SLICE", 40)  # 300 keys: eight slices
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        data = app.data
        assert data is not None
        expected = [row.name for row in data.compile("team", app.clock()).filter(data.sorted_rows)]
        # Typed a key at a time: each longer word narrows the last result.
        await pilot.press("slash", *"te")
        await pilot.press("asterisk")  # typed into the filter: not a mark
        app.screen.query_one("#filter", Input).value = "team"
        await pilot.pause()
        await pilot.press("enter", "asterisk")  # marks all matches, even mid-scan
        await pilot.pause()
        assert shown_names(app) == expected
        assert status_line(app).startswith(f"{len(expected)} marked · {len(expected)} shown")
        await type_filter(pilot, "tag:team-a")  # not a narrowing: scans everything again
        assert shown_names(app) == [
            row.name for row in data.compile("tag:team-a", app.clock()).filter(data.sorted_rows)
        ]
