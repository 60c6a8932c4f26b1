"""Usage on the console, on the dump of a real CRS (534 requests) with the clock frozen at its
dump instant: the live view finds a key that starts burning money, the detail shows CRS's
answer, the limit bars and the per-model lines, and the column choice is kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from keyops.tui.app import KeyopsApp
from keyops.tui.config import UiConfig, load_config
from tests.support.dump import usage_expected
from tests.tui.conftest import (
    key_view,
    static_text,
    status_line,
    type_filter,
    wait_for,
    wait_loaded,
    wait_screen,
)
from tests.tui.conftest import usage_fixture_app as fixture_app

EXPECTED = usage_expected()
IDS = {name: entry["id"] for name, entry in EXPECTED["keys"].items()}
TODAY = EXPECTED["today"]
SIZE = (80, 24)


async def usage_read(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, KeyopsApp)
    await wait_loaded(pilot)
    await wait_for(pilot, lambda: app.data is not None and app.data.live.loaded, "usage read")


async def burn(app: KeyopsApp, key_id: str, dollars: float, requests: int) -> None:
    """What CRS writes when it serves requests (INCRBYFLOAT on the cost strings, HINCRBY on
    the day's counters), as core/seeding/usage.py shapes them."""
    assert app.data is not None
    client = app.data.session.clients.write
    await client.incrbyfloat(f"usage:cost:daily:{key_id}:{TODAY}", dollars)
    await client.incrbyfloat(f"usage:cost:total:{key_id}", dollars)
    await client.hincrby(f"usage:daily:{key_id}:{TODAY}", "requests", requests)
    await client.hincrby(f"usage:daily:{key_id}:{TODAY}", "inputTokens", requests * 9_000)


async def test_a_key_that_starts_burning_moves_to_the_top_of_the_cost_sort_within_one_refresh() -> (
    None
):
    app = fixture_app(UiConfig(refresh_usage_seconds=0.5))
    async with app.run_test(size=SIZE) as pilot:
        await usage_read(pilot)
        await pilot.press("dollar_sign")
        view = key_view(app)
        await wait_for(pilot, lambda: view.rows[0].id == IDS["alpha-console-1"], "sorted")
        assert "sort: cost today ▼" in status_line(app)
        quiet = IDS["gamma-responses-1"]
        assert view.rows[0].id != quiet
        assert app.data is not None
        live = app.data.live
        reads_before = live.reads
        await burn(app, quiet, 40.0, 30)
        await wait_for(pilot, lambda: view.rows[0].id == quiet, "the burner on top", 10)
        # Landed with the first read that began after the write (at most one more in flight).
        assert live.reads - reads_before <= 2
        assert live.rates[quiet] > 0
        # The cursor stayed on the key it was on; the burner's row says it is burning.
        text, level = view.usage_cell(view.rows[0], "rate")
        assert text.startswith("▲") and level == "burning"
        cost, _ = view.usage_cell(view.rows[0], "cost.today")
        assert cost.startswith("$40.")
        assert app.is_running


async def test_detail_shows_crs_answer_the_limit_bars_and_the_per_model_lines() -> None:
    app = fixture_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await usage_read(pilot)
        await type_filter(pilot, "name:zeta-unbound-1")
        await pilot.press("enter")
        await wait_screen(pilot, "KeyDetailScreen")
        await wait_for(pilot, lambda: "CRS would" in static_text(app, "#usage"), "usage shown")
        text = static_text(app, "#usage")
        # CRS's 402 for this key, in its words, with the figures it compared.
        assert "402 daily_cost_limit_exceeded ($0.32 of $0.25)" in text
        assert "daily cost" in text and "$0.32 / $0.25" in text and "126%" in text
        assert "█" * 20 in text  # over the limit: the bar is full
        assert "3 requests" in text
        breakdown = await app.data.session.usage_breakdown(  # type: ignore[union-attr]
            IDS["zeta-unbound-1"], now=app.clock()
        )
        assert breakdown.models
        for model in breakdown.models:
            assert model.model in text
        await pilot.press("escape")

        # A key under its limit: the bar is part filled, the answer is accepted.
        await type_filter(pilot, "name:beta-claude-group-2")
        await pilot.press("enter")
        await wait_screen(pilot, "KeyDetailScreen")
        await wait_for(pilot, lambda: "CRS would" in static_text(app, "#usage"), "usage shown")
        text = static_text(app, "#usage")
        assert "CRS would answer: accepted" in text and "91%" in text
        assert "█" * 18 + "░" * 2 in text


async def test_the_column_picker_choice_is_saved_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('theme = "textual-dark"\n\n[keymap]\n"keys.mark" = "x"\n', encoding="utf-8")
    app = fixture_app(load_config(path))
    async with app.run_test(size=SIZE) as pilot:
        await usage_read(pilot)
        view = key_view(app)
        assert view.usage_columns == ("cost.today", "limit", "rate")
        await pilot.press("c")
        await wait_screen(pilot, "ColumnPickerScreen")
        # The list order: requests, cost today, week, total, concurrency, limit, verdict, $/min.
        await pilot.press("space")  # requests today on
        await pilot.press("down", "space")  # cost today off
        await pilot.press("down", "down", "down", "down", "down", "space")  # verdict on
        await pilot.press("ctrl+s")
        await wait_screen(pilot, "KeyListScreen")
        chosen = ("requests.today", "limit", "verdict", "rate")
        assert view.usage_columns == chosen
        await pilot.pause()
        header = "".join(segment.text for segment in view.render_line(0))
        # At 80 columns the column picked last gives way, so names stay readable...
        assert "req today" in header and "limit" in header and "$ today" not in header
        assert "verdict" not in header
        # ...and shows on a wider terminal.
        await pilot.resize_terminal(120, 40)
        await pilot.pause(0.2)
        header = "".join(segment.text for segment in view.render_line(0))
        assert "req today" in header and "verdict" in header and "$ today" not in header
    reread = load_config(path)
    assert reread.usage_columns == chosen
    assert reread.keymap == {"keys.mark": "x"}  # the rest of the file is as it was
