"""The console's usage view on values a buggy CRS or a hand edit leaves, on the dump of a real
CRS with the clock frozen at its dump instant: the detail still says what CRS would answer."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from keyops.core.api import REASONS, KeyopsSession
from keyops.tui.app import KeyopsApp
from keyops.tui.config import UiConfig
from keyops.tui.usage_columns import USAGE_COLUMN_SPECS, money
from tests.support.dump import usage_expected
from tests.tui.conftest import (
    key_view,
    static_text,
    type_filter,
    usage_fixture_now,
    usage_fixture_session,
    wait_for,
    wait_loaded,
    wait_screen,
)
from tests.tui.conftest import usage_fixture_app as fixture_app

EXPECTED = usage_expected()
IDS = {name: entry["id"] for name, entry in EXPECTED["keys"].items()}
TODAY = EXPECTED["today"]


async def open_detail(pilot: Pilot[Any], name: str) -> str:
    """The key's detail, once its usage is shown; the usage part's text."""
    app = pilot.app
    assert isinstance(app, KeyopsApp)
    await type_filter(pilot, f"name:{name}")
    await pilot.press("enter")
    await wait_screen(pilot, "KeyDetailScreen")
    await wait_for(pilot, lambda: "CRS would" in static_text(app, "#usage"), "usage shown")
    return static_text(app, "#usage")


async def test_an_infinite_cost_of_an_infinite_limit_shows_crs_402_in_the_detail() -> None:
    app = fixture_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_loaded(pilot)
        assert app.data is not None
        key_id = IDS["zeta-unbound-1"]
        client = app.data.session.clients.write
        await client.set(f"usage:cost:daily:{key_id}:{TODAY}", "Infinity")
        await client.hset(f"apikey:{key_id}", "dailyCostLimit", "1e999")
        text = await open_detail(pilot, "zeta-unbound-1")
        assert "402 daily_cost_limit_exceeded" in text
        assert "█" * 20 in text and "100%" in text


async def test_a_model_hash_of_the_wrong_type_costs_its_line_not_the_whole_usage_part() -> None:
    app = fixture_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_loaded(pilot)
        assert app.data is not None
        key_id = IDS["zeta-unbound-1"]
        client = app.data.session.clients.write
        await client.sadd(f"usage:keymodel:daily:index:{TODAY}", f"{key_id}:odd-model")
        await client.set(f"usage:{key_id}:model:daily:odd-model:{TODAY}", "not a hash")
        text = await open_detail(pilot, "zeta-unbound-1")
        assert "402 daily_cost_limit_exceeded" in text
        breakdown = await app.data.session.usage_breakdown(key_id, now=app.clock())
        assert breakdown.models and all(model.model in text for model in breakdown.models)
        assert "odd-model" not in text
        assert type(app.screen).__name__ == "KeyDetailScreen"  # no error dialog over it


async def test_a_crs_west_of_utc_is_named_utc_minus_in_the_detail() -> None:
    async def west() -> KeyopsSession:
        session = await usage_fixture_session()
        session.timezone_offset = -11  # TIMEZONE_OFFSET=-11
        return session

    now = usage_fixture_now()
    app = KeyopsApp(west, clock=lambda: now)
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_loaded(pilot)
        text = await open_detail(pilot, "zeta-unbound-1")
        assert "UTC-11)" in text and "UTC+-" not in text


async def test_a_seven_figure_total_is_shown_whole_in_its_column() -> None:
    """$1,234,567.89 in all: '$1,234,568' is wider than the 9-cell column, which cut it to a
    figure that reads as something else; it is '$1.23M'."""
    columns = ("cost.today", "cost.total", "limit")
    app = fixture_app(UiConfig(usage_columns=columns, refresh_usage_seconds=0.5))
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_loaded(pilot)
        assert app.data is not None
        key_id = IDS["zeta-unbound-1"]
        await app.data.session.clients.write.set(f"usage:cost:total:{key_id}", "1234567.89")
        await type_filter(pilot, "name:zeta-unbound-1")
        view = key_view(app)
        live = app.data.live

        def total() -> float:
            usage = live.usage(key_id)
            return usage.cost_total if usage is not None else 0.0

        await wait_for(pilot, lambda: total() > 1e6, "the total read")
        await pilot.pause(0.1)
        line = "".join(segment.text for segment in view.render_line(1))
        assert "zeta-unbound-1" in line and "$1.23M" in line


def test_every_cost_fits_every_cost_column_whole() -> None:
    widths = {USAGE_COLUMN_SPECS[name].width for name in ("cost.today", "cost.week", "cost.total")}
    for exponent in range(-3, 308):
        for mantissa in (1.0, 4.99999, 9.99999):
            assert len(money(mantissa * 10.0**exponent)) <= min(widths), mantissa * 10.0**exponent
    assert money(float("inf")) == "$∞"


async def test_a_key_disabled_by_another_operator_shows_so_in_the_open_detail() -> None:
    """Another operator (or CRS's admin UI) disables the key while its detail is open: the
    detail says CRS now answers 401 and isActive is false, without closing and reopening."""
    app = fixture_app(UiConfig(refresh_rows_seconds=0.5))
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_loaded(pilot)
        assert app.data is not None
        text = await open_detail(pilot, "beta-claude-group-2")
        assert "CRS would answer: accepted" in text
        key_id = IDS["beta-claude-group-2"]
        await app.data.session.clients.write.hset(f"apikey:{key_id}", "isActive", "false")
        await wait_for(
            pilot, lambda: "401 API key is disabled" in static_text(app, "#usage"), "the 401"
        )
        assert "isActive false" in " ".join(static_text(app, "#fields").split())


async def test_at_80x24_the_per_model_figures_of_the_detail_are_whole() -> None:
    """Which model burns the money is read off the per-model lines: at 80 columns the cost was
    cut to '$28.…' and the input tokens to '982,7…'."""
    from keyops.tui.usage_panel import money
    from tests.tui.test_at_80x24 import screen_text

    app = fixture_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        assert app.data is not None
        await open_detail(pilot, "alpha-console-1")
        breakdown = await app.data.session.usage_breakdown(IDS["alpha-console-1"], now=app.clock())
        lines = screen_text(app).splitlines()
        for model in breakdown.models:
            line = next(line for line in lines if model.model in line)
            assert model.cost is not None and money(model.cost) in line, line
            for count in (model.requests, model.input_tokens, model.cache_read_tokens):
                assert f"{count:,}" in line, line
        assert "…" not in "".join(line for line in lines if "cache" in line)


async def test_the_verdict_column_names_every_reason_whole() -> None:
    """'window-requests' was cut to 'window-requ…' in the 12-cell verdict column."""
    app = fixture_app(UiConfig(usage_columns=("verdict",)))
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "name:eta-limited")  # the fixture's key at its window limit
        view = key_view(app)
        await wait_for(pilot, lambda: app.data is not None and app.data.live.loaded, "usage")
        await pilot.pause(0.1)
        line = "".join(segment.text for segment in view.render_line(1))
        assert "eta-limited" in line and "window-requests" in line
    assert all(len(reason) <= USAGE_COLUMN_SPECS["verdict"].width for reason in REASONS)


async def test_a_request_served_while_the_detail_is_open_shows_its_model_line() -> None:
    app = fixture_app(UiConfig(refresh_rows_seconds=0.5))
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_loaded(pilot)
        assert app.data is not None
        await open_detail(pilot, "beta-claude-group-2")
        key_id = IDS["beta-claude-group-2"]
        client = app.data.session.clients.write
        # What CRS writes for one request on a model the key had not used today.
        model = "claude-haiku-4-5-20251001"
        await client.hset(
            f"usage:{key_id}:model:daily:{model}:{TODAY}",
            mapping={"requests": 1, "inputTokens": 1234, "ratedCostMicro": 5000},
        )
        await client.sadd(f"usage:keymodel:daily:index:{TODAY}", f"{key_id}:{model}")
        await client.hincrby(f"usage:daily:{key_id}:{TODAY}", "requests", 1)
        await client.incrbyfloat(f"usage:cost:daily:{key_id}:{TODAY}", 0.005)
        await wait_for(pilot, lambda: model in static_text(app, "#usage"), "the new model")
        assert "1,234" in static_text(app, "#usage")
