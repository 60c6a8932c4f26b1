"""The live usage view when Redis goes away mid-refresh, on real redis-server behind a proxy
that can be cut: the console stays up with the last figures, says Redis is lost, and reads
usage again once Redis answers."""

from __future__ import annotations

import redis.asyncio as aioredis

from keyops.core.api import KeyopsSession, RedisSettings
from keyops.tui.app import KeyopsApp
from keyops.tui.config import UiConfig
from tests.support.dump import load_dump, usage_expected, usage_fixture
from tests.support.proxy import FaultyProxy
from tests.support.redis_server import RedisServer
from tests.tui.conftest import key_view, static_text, wait_for, wait_loaded
from tests.tui.conftest import usage_fixture_now as fixture_now

WAIT = 30.0


async def test_redis_lost_during_a_usage_refresh_keeps_the_console_and_its_figures(
    redis_server: RedisServer,
) -> None:
    client = aioredis.Redis(port=redis_server.port, decode_responses=True)
    await client.flushall()
    await load_dump(client, usage_fixture())
    proxy = FaultyProxy(redis_server.port)
    await proxy.start()
    try:
        session = await KeyopsSession.open(RedisSettings(port=proxy.port, socket_timeout=2))
        session.timezone_offset = usage_expected()["timezone_offset"]
        now = fixture_now()

        async def opener() -> KeyopsSession:
            return session

        app = KeyopsApp(opener, clock=lambda: now, config=UiConfig(refresh_usage_seconds=0.5))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_loaded(pilot)
            assert app.data is not None
            live = app.data.live
            await wait_for(pilot, lambda: live.reads >= 2, "two usage reads", WAIT)
            await pilot.press("dollar_sign")
            view = key_view(app)
            top = view.rows[0].id
            shown_cost = view.usage_cell(view.rows[0], "cost.today")[0]
            await proxy.cut()
            await wait_for(pilot, lambda: bool(app.lost_connection), "Redis lost", WAIT)
            reads = live.reads
            await pilot.pause(1.5)  # refreshes are skipped while Redis is lost
            assert app.is_running and app.return_code is None
            assert "Redis lost at" in static_text(app, "#banner")
            assert live.reads == reads and view.rows[0].id == top
            assert view.usage_cell(view.rows[0], "cost.today")[0] == shown_cost
            await proxy.restore()
            await wait_for(pilot, lambda: not app.lost_connection, "Redis back", WAIT)
            await wait_for(pilot, lambda: live.reads > reads, "usage read again", WAIT)
            assert view.rows[0].id == top
        await session.aclose()
    finally:
        await proxy.stop()
        await client.aclose()
