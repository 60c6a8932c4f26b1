"""Usage reads against a hostile world, on real redis-server: a read cancelled while its replies
are on the way (a detail closed, a refresh replaced), values a buggy CRS or a hand edit left in
the usage keys, wrong types where CRS keeps its per-model hashes."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from keyops.core.api import RedisSettings
from keyops.core.connection import make_clients
from keyops.core.usage import names
from keyops.core.usage.loader import load_breakdown, load_usage
from tests.support.proxy import FaultyProxy
from tests.support.redis_server import RedisServer

NOW = 1_796_185_346.603  # 2026-12-02T04:22:26.603Z
TODAY = "2026-12-02"  # at UTC+8


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
