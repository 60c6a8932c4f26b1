"""Where a console session's data comes from: a real CRS Redis, or the in-process demo store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from keyops.core.api import KeyopsSession, RedisSettings

SessionOpener = Callable[[], Awaitable[KeyopsSession]]


def redis_opener(settings: RedisSettings) -> SessionOpener:
    async def open_session() -> KeyopsSession:
        return await KeyopsSession.open(settings)

    return open_session


def demo_opener(key_count: int, now: datetime | None = None) -> SessionOpener:
    async def open_session() -> KeyopsSession:
        return await KeyopsSession.demo(key_count, now)

    return open_session
