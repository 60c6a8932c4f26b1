"""The console's usage view on values a buggy CRS or a hand edit leaves, on the dump of a real
CRS with the clock frozen at its dump instant: the detail still says what CRS would answer."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from keyops.core.api import KeyopsSession
from keyops.tui.app import KeyopsApp
from tests.support.dump import usage_expected
from tests.tui.conftest import (
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
