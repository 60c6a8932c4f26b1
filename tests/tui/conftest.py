"""Helpers for driving the real console (`App.run_test`) on the demo store or a real Redis."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Static

from keyops.core.api import BatchConfig, KeyopsSession
from keyops.tui.app import KeyopsApp, make_demo_app
from keyops.tui.config import UiConfig
from keyops.tui.screens.progress import ProgressScreen
from keyops.tui.widgets.key_list_view import KeyListView

# A fixed clock and seed so screens (and their snapshots) are the same on every run.
DEMO_NOW = datetime(2026, 11, 27, 3, 0, 0, tzinfo=UTC)


def demo_app(
    key_count: int = 300,
    *,
    read_only: bool = False,
    config: UiConfig | None = None,
) -> KeyopsApp:
    return make_demo_app(
        key_count, now=DEMO_NOW, clock=DEMO_NOW.timestamp, read_only=read_only, config=config
    )


def session_app(
    session: KeyopsSession,
    *,
    batch_config: BatchConfig | None = None,
    config: UiConfig | None = None,
) -> KeyopsApp:
    """The console on a session a test set up (real Redis, a prepared fakeredis)."""

    async def opener() -> KeyopsSession:
        return session

    return KeyopsApp(opener, batch_config=batch_config, config=config)


def status_line(app: KeyopsApp) -> str:
    return str(app.screen.query_one("#status-line", Static).render())


def key_view(app: KeyopsApp) -> KeyListView:
    return app.screen.query_one("#keys", KeyListView)


def shown_names(app: KeyopsApp) -> list[str]:
    return [row.name for row in key_view(app).rows]


async def wait_for(
    pilot: Pilot[int], condition: Callable[[], bool], what: str, seconds: float = 15
) -> None:
    for _ in range(int(seconds / 0.05)):
        await pilot.pause(0.05)
        try:
            if condition():
                return
        except Exception:  # the screen may not be mounted yet
            continue
    raise AssertionError(f"never happened: {what}")


async def wait_loaded(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, KeyopsApp)
    await wait_for(pilot, lambda: "shown of" in status_line(app), "keys loaded")


async def wait_screen(pilot: Pilot[Any], name: str) -> None:
    """Waits until a screen of that class is on top and mounted (its widgets composed)."""

    def ready() -> bool:
        screen = pilot.app.screen
        return type(screen).__name__ == name and screen.is_mounted

    await wait_for(pilot, ready, f"{name} on top")


async def type_filter(pilot: Pilot[Any], text: str) -> None:
    """Types a query into the filter and waits for the list to show its result."""
    await pilot.press("slash", *text, "enter")
    await pilot.pause(0.1)


Runner = Callable[[Pilot[Any]], Awaitable[None]]


def static_text(app: KeyopsApp, selector: str, width: int = 200) -> str:
    """What a Static shows, as plain text, even when it holds a Rich table."""
    import io

    from rich.console import Console

    console = Console(width=width, record=True, file=io.StringIO())
    console.print(app.screen.query_one(selector, Static).content)
    return console.export_text()


async def finish_progress(pilot: Pilot[Any], seconds: float = 30) -> ProgressScreen:
    """Waits for the progress screen and for its batch's outcome."""
    await wait_screen(pilot, "ProgressScreen")
    screen = pilot.app.screen
    assert isinstance(screen, ProgressScreen)
    await wait_for(pilot, lambda: screen.outcome is not None, "batch finished", seconds)
    return screen


async def add_tag_to_marked(pilot: Pilot[Any], tag: str, seconds: float = 30) -> ProgressScreen:
    """`t`, the tag, the preview, `ctrl+s` (the editor's preview is its confirm); returns the
    finished run."""
    app = pilot.app
    assert isinstance(app, KeyopsApp)
    await pilot.press("t", *tag)
    await wait_for(pilot, lambda: "unchanged" in static_text(app, "#preview-counts"), "preview")
    await pilot.press("ctrl+s")
    return await finish_progress(pilot, seconds)


# -- the usage fixture: a real CRS's dump after 534 requests, the clock frozen at its dump ------


def usage_fixture_now() -> float:
    from tests.support.dump import usage_expected

    dumped = usage_expected()["dump_utc"].replace("Z", "+00:00")
    return datetime.fromisoformat(dumped).astimezone(UTC).timestamp()


async def usage_fixture_session() -> KeyopsSession:
    """A session on an in-process store holding the usage fixture, CRS's offset set."""
    import fakeredis

    from tests.support.dump import load_dump, usage_expected, usage_fixture

    client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)
    await load_dump(client, usage_fixture())
    session = KeyopsSession.from_client(client, "usage fixture")
    session.timezone_offset = usage_expected()["timezone_offset"]
    return session


def usage_fixture_app(config: UiConfig | None = None) -> KeyopsApp:
    """The console on the usage fixture with its clock frozen at the dump instant."""
    now = usage_fixture_now()
    return KeyopsApp(usage_fixture_session, clock=lambda: now, config=config)
