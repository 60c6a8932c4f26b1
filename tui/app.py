"""The keyops Textual application and its factories (tests build the real app through them)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from textual.app import App
from textual.binding import Binding

from core.session import CrsSession
from core.settings import RedisSettings
from tui.screens.key_list import KeyListScreen
from tui.sources import SessionOpener, demo_opener, redis_opener

Clock = Callable[[], float]


class KeyopsApp(App[int]):
    """Holds the session; screens ask it for data through core services."""

    TITLE = "keyops"
    CSS_PATH = "keyops.tcss"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", id="app.quit")]

    def __init__(
        self, opener: SessionOpener, *, read_only: bool = False, clock: Clock = time.time
    ) -> None:
        super().__init__()
        self.opener = opener
        self.read_only = read_only
        self.clock = clock
        self.session: CrsSession | None = None

    def on_mount(self) -> None:
        self.push_screen(KeyListScreen())

    async def open_session(self) -> CrsSession:
        if self.session is None:
            self.session = await self.opener()
            self.sub_title = self.session.endpoint
        return self.session

    async def on_unmount(self) -> None:
        if self.session is not None:
            await self.session.aclose()


def make_demo_app(
    key_count: int = 2000, *, now: datetime | None = None, clock: Clock = time.time
) -> KeyopsApp:
    return KeyopsApp(demo_opener(key_count, now), clock=clock)


def make_redis_app(settings: RedisSettings, *, read_only: bool = False) -> KeyopsApp:
    return KeyopsApp(redis_opener(settings), read_only=read_only)
