"""Where a console session's data comes from: a real CRS Redis, or the in-process demo store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from keyops.core.session import CrsSession
from keyops.core.settings import RedisSettings

SessionOpener = Callable[[], Awaitable[CrsSession]]

DEMO_ENDPOINT = "demo (in-process sample, nothing leaves this process)"


def redis_opener(settings: RedisSettings) -> SessionOpener:
    async def open_session() -> CrsSession:
        return await CrsSession.open(settings)

    return open_session


def demo_opener(key_count: int, now: datetime | None = None) -> SessionOpener:
    async def open_session() -> CrsSession:
        # Imported here: fakeredis and the seeder are only needed for the demo.
        import fakeredis

        from keyops.core.seeding.writer import seed_dataset

        # Its own FakeServer: fakeredis clients otherwise share state per host and port.
        client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)
        await seed_dataset(client, key_count, now=now)
        return CrsSession.from_client(client, DEMO_ENDPOINT)

    return open_session
