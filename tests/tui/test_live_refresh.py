"""The key list keeps up with Redis by itself: rows on screen re-read every few seconds, the
whole list when keys come or go or an operation ends, marks and the cursor kept on their keys."""

from __future__ import annotations

import gc
from operator import attrgetter

import pytest
import redis.asyncio as aioredis

from keyops.core.api import AccountCatalog, KeyopsSession, KeyRow, KeyTable
from keyops.tui.app import KeyopsApp
from keyops.tui.collector import collect_closed_screens, note_closed_screen
from keyops.tui.config import UiConfig
from keyops.tui.console_data import ConsoleData
from keyops.tui.selection import Selection
from keyops.tui.widgets.key_list_view import SortColumn, sort_rows, sort_rows_gently
from tests.tui.conftest import (
    DEMO_NOW,
    demo_app,
    key_view,
    session_app,
    status_line,
    type_filter,
    wait_for,
    wait_loaded,
)

# Short intervals so a test waits a fraction of a second; what is measured is "no ctrl+r".
FAST_ROWS = UiConfig(refresh_rows_seconds=0.2, refresh_list_seconds=600)


async def test_an_external_disable_shows_without_a_reload(crs: aioredis.Redis) -> None:
    app = session_app(KeyopsSession.from_client(crs, "real redis-server"), config=FAST_ROWS)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        view = key_view(app)
        await pilot.press("down", "down")
        target = view.highlighted
        assert target is not None and target.is_active
        assert "as of " in status_line(app) and " s ago" in status_line(app)
        # What CRS's admin UI does when an operator switches a key off: a plain HSET.
        await crs.hset(f"apikey:{target.id}", "isActive", "false")
        await wait_for(
            pilot,
            lambda: view.highlighted is not None and not view.highlighted.is_active,
            "the disable shown on the highlighted row",
            seconds=3.0,  # a few refresh intervals (on a busy machine), far below the full list's
        )
        assert view.highlighted.id == target.id and view.cursor == 2  # type: ignore[union-attr]
        # The loaded list took the change too: a plan made now starts from it.
        assert app.data is not None and not app.data.session.table.by_id[target.id].is_active

        # Under a filter, a key that no longer matches it leaves the list.
        await type_filter(pilot, "status:active")
        first = view.rows[0]
        await crs.hset(f"apikey:{first.id}", "isActive", "false")
        await wait_for(
            pilot, lambda: first.id not in {row.id for row in view.rows}, "the key left", 3.0
        )


async def test_marks_and_cursor_survive_a_full_refresh_after_keys_appear(
    crs: aioredis.Redis,
) -> None:
    config = UiConfig(refresh_rows_seconds=0.2, refresh_list_seconds=0.5)
    app = session_app(KeyopsSession.from_client(crs, "real redis-server"), config=config)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        data = app.data
        assert data is not None
        view = key_view(app)
        await pilot.press("space", "down", "space", "down", "down")
        marked = set(data.selection.marked)
        highlighted = view.highlighted
        assert len(marked) == 2 and highlighted is not None
        loads, count = data.loads, len(data.table)
        # Another console (or CRS) creates a key that sorts first: the rows under the cursor
        # shift by one, and the cursor must follow its key, not its position.
        await crs.hset(
            "apikey:00000000-live-refresh",
            mapping={"name": "!first-by-name", "isActive": "true", "isDeleted": "false"},
        )
        await crs.sadd("apikey:idx:all", "00000000-live-refresh")
        await wait_for(pilot, lambda: len(data.table) == count + 1, "the new key listed", 3.0)
        assert data.loads > loads
        assert view.rows[0].name == "!first-by-name"
        assert data.selection.marked == marked
        assert view.highlighted is not None and view.highlighted.id == highlighted.id
        assert status_line(app).startswith("2 marked")


def loading(app: KeyopsApp) -> bool:
    return any(worker.group == "load" and not worker.is_finished for worker in app.workers)


def rows_alive() -> int:
    gc.unfreeze()  # frozen objects are not among gc.get_objects()
    gc.collect()
    return sum(1 for item in gc.get_objects() if type(item) is KeyRow)


async def test_background_reloads_let_go_of_the_rows_they_replaced() -> None:
    # A reload frees the rows it replaced a slice per event-loop turn (all at once they held
    # the console ~60 ms at 100,000 keys): none of them may stay held, reload after reload.
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        data = app.data
        assert data is not None
        await pilot.press("space", "down")
        alive_after_start = rows_alive()
        assert alive_after_start >= len(data.table)
        for reload in range(1, 4):
            loads = data.loads
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda before=loads: data.loads > before, f"reload {reload}")
            await wait_for(pilot, lambda: not loading(app), "the reload finished", 3.0)
            # The old rows go a slice per turn after the reload: all of them, soon after. (Rows
            # another test in this worker left alive are counted in both.)
            await wait_for(pilot, lambda: rows_alive() == alive_after_start, "old rows freed", 3.0)
        assert status_line(app).startswith("1 marked · 295 shown of 300 keys")


async def test_a_reload_sorts_in_slices_to_the_same_order(monkeypatch: pytest.MonkeyPatch) -> None:
    from keyops.tui.widgets import key_list_view

    monkeypatch.setattr(key_list_view, "SORT_SLICE", 70)  # 300 keys: five runs to merge
    session = await KeyopsSession.demo(300)
    table, _ = await session.load()
    rows = list(table)[::-1]
    now = DEMO_NOW.timestamp()
    for column in SortColumn:
        for reverse in (False, True):
            expected = sort_rows(rows, column, reverse, now)
            gently = await sort_rows_gently(rows, column, reverse, now)
            # Equal names may tie either way in a reversed name sort; everything else is exact.
            same = attrgetter("name_folded" if column is SortColumn.NAME else "id")
            assert list(map(same, gently)) == list(map(same, expected)), (column, reverse)


async def test_a_load_makes_its_rows_without_a_full_garbage_collection() -> None:
    # A full collection walks every object not frozen, the new rows included: at 100,000 keys
    # each one held the console 130-260 ms mid-reload. Thresholds this low would start one
    # every few hundred objects; none runs while the rows are read, built and sorted.
    data = ConsoleData(await KeyopsSession.demo(1500), Selection())
    reading = [False]
    full_while_reading: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2 and reading[0]:
            full_while_reading.append(1)

    load = data.session.load

    async def timed_load(*, refresh: bool = False) -> tuple[KeyTable, AccountCatalog]:
        reading[0] = True
        try:
            return await load(refresh=refresh)
        finally:
            reading[0] = False

    data.session.load = timed_load  # type: ignore[method-assign]
    threshold = gc.get_threshold()
    gc.set_threshold(50, 1, 1)
    gc.callbacks.append(seen)
    try:
        for _ in range(2):  # the first load and a reload
            await data.load(DEMO_NOW.timestamp())
            assert gc.get_threshold() == (50, 1, 1)  # the collector's settings given back
    finally:
        gc.callbacks.remove(seen)
        gc.set_threshold(*threshold)
        gc.unfreeze()
    assert full_while_reading == []
    assert len(data.sorted_rows) == len(data.table) > 1000


async def test_a_background_reload_collects_garbage_only_after_a_screen_closed() -> None:
    # The full collection before a reload frees closed previews and progress screens (their
    # plans); with none closed it only walked what the console made since the last freeze
    # (~100 ms of a background reload at 100,000 keys).
    data = ConsoleData(await KeyopsSession.demo(300), Selection())
    full: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            full.append(1)

    collect_closed_screens()  # what earlier tests' closed screens left noted
    await data.load(DEMO_NOW.timestamp())
    gc.callbacks.append(seen)
    try:
        await data.load(DEMO_NOW.timestamp())
        assert full == []
        note_closed_screen()
        await data.load(DEMO_NOW.timestamp())
        assert full == [1]
        await data.load(DEMO_NOW.timestamp())
        assert full == [1]
    finally:
        gc.callbacks.remove(seen)
        gc.unfreeze()


async def test_closing_a_dialog_notes_garbage_for_the_next_reload() -> None:
    app = demo_app(50)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        collect_closed_screens()
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert collect_closed_screens()
        assert not collect_closed_screens()
