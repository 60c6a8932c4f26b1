"""Drive the demo and save an SVG of each screen into screenshots/ (the README shows them).

./dev screenshots
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, Static

from tui.app import make_demo_app

OUT = Path(__file__).resolve().parent
NOW = datetime(2026, 11, 27, 3, 0, 0, tzinfo=UTC)

Step = Callable[[Pilot[int]], Awaitable[None]]


async def wait_loaded(pilot: Pilot[int]) -> None:
    for _ in range(400):
        await pilot.pause(0.05)
        if "shown of" in str(pilot.app.screen.query_one("#status-line", Static).render()):
            return
    raise RuntimeError("the demo never finished loading")


async def filtered(pilot: Pilot[int]) -> None:
    await pilot.press("slash", *"tag:prod bound:claude -status:disabled")
    await pilot.pause()


async def bad_query(pilot: Pilot[int]) -> None:
    pilot.app.screen.query_one("#filter", Input).value = "tag:prod colour:red"
    await pilot.pause()


SHOTS: list[tuple[str, Step | None]] = [
    ("key-list", None),
    ("key-list-filtered", filtered),
    ("key-list-bad-query", bad_query),
]


async def capture(name: str, step: Step | None) -> Path:
    app = make_demo_app(2000, now=NOW, clock=NOW.timestamp)
    async with app.run_test(size=(120, 32)) as pilot:
        await wait_loaded(pilot)
        if step is not None:
            await step(pilot)
        path = app.save_screenshot(filename=f"{name}.svg", path=str(OUT))
    return Path(path)


async def main() -> None:
    for name, step in SHOTS:
        print(f"wrote {await capture(name, step)}")


if __name__ == "__main__":
    asyncio.run(main())
