"""The key list screen, driven through the real app on the demo store."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from tests.tui.conftest import demo_app
from tui.app import KeyopsApp


async def wait_loaded(pilot: Pilot[int]) -> None:
    for _ in range(200):
        await pilot.pause(0.05)
        if "shown of" in str(pilot.app.screen.query_one("#status-line", Static).render()):
            return
    raise AssertionError("keys never loaded")


def status_line(app: KeyopsApp) -> str:
    return str(app.screen.query_one("#status-line", Static).render())


async def test_demo_lists_every_key_and_filters_as_you_type() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        deleted = status_line(app)
        total_visible = app.screen.query_one("#keys", DataTable).row_count
        assert deleted.endswith("of 300 keys") and 250 < total_visible < 300  # deleted keys hidden
        await pilot.press("slash")
        await pilot.press(*"tag:i18n")
        await pilot.pause()
        table = app.screen.query_one("#keys", DataTable)
        assert table.row_count == 1
        assert table.get_row_at(0)[0] == "kappa-Unicode-名字"
        assert status_line(app) == "1 shown of 300 keys"


async def test_a_bad_query_is_marked_and_the_list_stays() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("slash", *"tag:prod")
        await pilot.pause()
        shown = app.screen.query_one("#keys", DataTable).row_count
        # Pasted in one go: while typing, each valid prefix would filter on its own.
        app.screen.query_one("#filter", Input).value = "tag:prod colour:red"
        await pilot.pause()
        error = app.screen.query_one("#filter-error", Static)
        assert error.has_class("visible")
        assert "unknown filter 'colour:'" in str(error.render())
        assert app.screen.query_one("#keys", DataTable).row_count == shown


async def test_escape_clears_the_filter() -> None:
    app = demo_app(300)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        before = status_line(app)
        await pilot.press("slash", *"status:disabled")
        await pilot.pause()
        assert status_line(app) != before
        await pilot.press("escape")
        await pilot.pause()
        assert status_line(app) == before
