"""SVG snapshots of every screen at 100x30 and 80x24 (pytest-textual-snapshot).

Update after an intended change with: ./dev test tests/tui --snapshot-update
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.tui.conftest import demo_app
from tests.tui.test_key_list import wait_loaded

SIZES = [(100, 30), (80, 24)]


@pytest.mark.parametrize("size", SIZES, ids=["100x30", "80x24"])
def test_key_list(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(demo_app(300), terminal_size=size, run_before=wait_loaded)


@pytest.mark.parametrize("size", SIZES, ids=["100x30", "80x24"])
def test_key_list_filtered(snap_compare: Any, size: tuple[int, int]) -> None:
    async def filtered(pilot: Any) -> None:
        await wait_loaded(pilot)
        await pilot.press("slash", *"tag:team-a")
        await pilot.pause()

    assert snap_compare(demo_app(300), terminal_size=size, run_before=filtered)


@pytest.mark.parametrize("size", SIZES, ids=["100x30", "80x24"])
def test_key_list_bad_query(snap_compare: Any, size: tuple[int, int]) -> None:
    async def bad(pilot: Any) -> None:
        await wait_loaded(pilot)
        await pilot.press("slash", *"tag:prod")
        await pilot.pause()
        pilot.app.screen.query_one("#filter").value = "tag:prod colour:red"
        await pilot.pause()

    assert snap_compare(demo_app(300), terminal_size=size, run_before=bad)
