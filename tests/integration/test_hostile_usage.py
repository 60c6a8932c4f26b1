"""Usage reads against a hostile world, on real redis-server: a read cancelled while its replies
are on the way (a detail closed, a refresh replaced), values a buggy CRS or a hand edit left in
the usage keys, wrong types where CRS keeps its per-model hashes."""

from __future__ import annotations

import asyncio
import json
import time

import redis.asyncio as aioredis

from keyops.core.api import KeyopsSession, RedisSettings
from keyops.core.connection import make_clients
from keyops.core.usage import names
from keyops.core.usage.loader import load_breakdown, load_usage
from keyops.core.usage.periods import date_part
from keyops.tui.app import KeyopsApp
from keyops.tui.config import UiConfig
from tests.integration.test_cli import keyops
from tests.support.dump import load_dump, usage_expected, usage_fixture
from tests.support.proxy import FaultyProxy
from tests.support.redis_server import RedisServer
from tests.tui.conftest import (
    shown_names,
    static_text,
    status_line,
    type_filter,
    usage_fixture_now,
    wait_for,
    wait_loaded,
    wait_screen,
)

NOW = 1_796_185_346.603  # 2026-12-02T04:22:26.603Z
TODAY = "2026-12-02"  # at UTC+8
WAIT = 30.0


async def test_a_usage_read_cancelled_mid_flight_leaves_no_reply_for_the_next_command(
    redis_server: RedisServer,
) -> None:
    """Closing a key's detail while its usage is on the way cancels the read: the next read on
    that client must get its own reply, not the cancelled read's (the key list read its rows
    from another command's replies)."""
    proxy = FaultyProxy(redis_server.port)
    await proxy.start()
    clients = make_clients(RedisSettings(port=proxy.port))
    client = clients.read
    try:
        await client.flushall()
        await client.set("sentinel", "its own value")
        ids = [f"key-{n}" for n in range(20)]
        for key_id in ids:
            await client.hset(f"apikey:{key_id}", mapping={"isActive": "true", "name": key_id})
        proxy.drop()  # the request reaches the proxy and waits there: replies are not back yet
        read = asyncio.create_task(load_usage(client, ids, now=NOW, offset=8))
        await asyncio.sleep(0.3)
        read.cancel()
        await asyncio.gather(read, return_exceptions=True)

        async def sentinel() -> object:
            return await client.get("sentinel")

        answer = asyncio.create_task(sentinel())
        await asyncio.sleep(0.1)
        proxy.resume()
        assert await answer == "its own value"
    finally:
        proxy.resume()
        await clients.read.aclose()
        await clients.write.aclose()
        await proxy.stop()


async def test_a_day_index_of_the_wrong_type_falls_back_to_the_keys_own_model_hashes(
    real_redis: aioredis.Redis,
) -> None:
    await real_redis.set(names.model_daily_index(TODAY), "not a set")
    await real_redis.hset(names.model_daily("k", "claude-x", TODAY), "requests", "4")
    await real_redis.set(names.model_daily("k", "a-string", TODAY), "not a hash")
    breakdown = await load_breakdown(real_redis, "k", now=NOW, offset=8)
    assert [(model.model, model.requests) for model in breakdown.models] == [("claude-x", 4)]


async def test_redis_cut_while_the_detail_reads_usage_then_back_shows_it_again(
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
        now = usage_fixture_now()

        async def opener() -> KeyopsSession:
            return session

        app = KeyopsApp(opener, clock=lambda: now, config=UiConfig(refresh_rows_seconds=0.5))
        async with app.run_test(size=(100, 40)) as pilot:
            await wait_loaded(pilot)
            await type_filter(pilot, "name:zeta-unbound-1")
            proxy.delay = 0.3  # every reply takes a while: the cut lands mid-read
            await pilot.press("enter")
            await wait_screen(pilot, "KeyDetailScreen")
            await pilot.pause(0.4)
            await proxy.cut()
            await wait_for(pilot, lambda: bool(app.lost_connection), "Redis lost", WAIT)
            assert app.is_running and type(app.screen).__name__ == "KeyDetailScreen"
            proxy.delay = 0
            await proxy.restore()
            await wait_for(pilot, lambda: not app.lost_connection, "Redis back", WAIT)
            await wait_for(
                pilot,
                lambda: "402 daily_cost_limit_exceeded" in static_text(app, "#usage"),
                "the usage read again",
                WAIT,
            )
        await session.aclose()
    finally:
        await proxy.stop()
        await client.aclose()


async def test_a_usage_filter_before_usage_is_read_leaves_nothing_to_act_on(
    redis_server: RedisServer,
) -> None:
    """'Active keys that spent nothing today', typed while Redis is lost before usage was ever
    read: every key would match (no usage is no cost), and `*` then `d` would disable the keys
    that are spending. Until usage is read the filter shows no key and refuses marks, saying
    why; once it is read the filter shows its real result."""
    client = aioredis.Redis(port=redis_server.port, decode_responses=True)
    await client.flushall()
    await load_dump(client, usage_fixture())
    proxy = FaultyProxy(redis_server.port)
    await proxy.start()
    try:
        session = await KeyopsSession.open(RedisSettings(port=proxy.port, socket_timeout=2))
        session.timezone_offset = usage_expected()["timezone_offset"]
        now = usage_fixture_now()

        async def opener() -> KeyopsSession:
            return session

        # No usage column: nothing reads usage until a filter needs it.
        app = KeyopsApp(opener, clock=lambda: now, config=UiConfig(usage_columns=()))
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_loaded(pilot)
            await proxy.cut()
            await wait_for(pilot, lambda: bool(app.lost_connection), "Redis lost", WAIT)
            await type_filter(pilot, "status:active -cost.today:>0")
            await pilot.press("asterisk", "space", "d")
            await pilot.pause(0.2)
            assert shown_names(app) == []
            assert status_line(app).startswith("0 marked · 0 shown of")
            assert "usage not read" in status_line(app)
            assert type(app.screen).__name__ == "KeyListScreen"  # no dialog opened
            assert app.data is not None and not app.data.selection.marked
            await proxy.restore()
            await wait_for(pilot, lambda: bool(shown_names(app)), "the filter's result", WAIT)
            assert "zeta-unbound-1" not in shown_names(app)  # it spent $0.32 today
            assert "usage not read" not in status_line(app)
        await session.aclose()
    finally:
        await proxy.stop()
        await client.aclose()


async def test_a_key_id_that_is_not_utf_8_is_listed_and_read_like_any_other(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    """One key whose id holds a byte that is not UTF-8 (in CRS's index): the key list, its
    usage and `keys top` read it, where the raw command encoders failed on it and took every
    other key down with it (a traceback from keys list, keys top and the console's load)."""
    raw = aioredis.Redis(port=redis_server.port)
    try:
        record = await raw.hgetall(b"apikey:" + (await raw.srandmember(b"apikey:idx:all")))
        await raw.hset(b"apikey:id\xfe", mapping={**record, b"id": b"id\xfe", b"name": b"bad-id"})
        await raw.sadd(b"apikey:idx:all", b"id\xfe")
        today = date_part(time.time(), 8).encode()
        await raw.set(b"usage:cost:daily:id\xfe:" + today, b"9999")
    finally:
        await raw.aclose()
    session = KeyopsSession.from_client(crs, "test")
    table, _ = await session.load()
    odd = "id\udcfe"  # the byte as keyops's clients decode it
    assert odd in table.by_id
    usage = await session.usage([odd])
    assert usage.get(odd).cost_today == 9999.0
    result = keyops("keys", "top", "-n", "1", "--json", "--redis-url", redis_server.url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["usage"]["costToday"] == 9999.0
