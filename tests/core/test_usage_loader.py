"""The usage loader on real redis-server and fakeredis: odd key ids, wrong types, missing
records, and data from keyops's own usage seeder read back as CRS's key list would add it."""

from __future__ import annotations

import redis.asyncio as aioredis

from keyops.core.api import KeyopsSession, verdict
from keyops.core.seeding.usage import seed_usage
from keyops.core.usage import names
from keyops.core.usage.loader import load_usage
from keyops.core.usage.periods import date_part

NOW = 1_796_185_346.603  # 2026-12-02T04:22:26.603Z
TODAY = date_part(NOW, 8)


async def test_a_non_ascii_id_is_read_like_any_other(any_redis: aioredis.Redis) -> None:
    for key_id in ("键-一", "plain-id", "x" * 300):
        await any_redis.hset(f"apikey:{key_id}", mapping={"isActive": "true", "name": key_id})
        await any_redis.set(names.daily_cost(key_id, TODAY), "1.25")
    table = await load_usage(any_redis, ["键-一", "plain-id", "x" * 300], now=NOW, offset=8)
    assert [table.get(k).cost_today for k in ("键-一", "plain-id", "x" * 300)] == [1.25] * 3


async def test_wrong_types_and_missing_records_read_as_nothing(any_redis: aioredis.Redis) -> None:
    await any_redis.hset("apikey:k1", mapping={"isActive": "true", "dailyCostLimit": "2"})
    await any_redis.set(names.daily_usage("k1", TODAY), "not a hash")
    await any_redis.hset(names.daily_cost("k1", TODAY), "x", "1")  # not a string
    await any_redis.set(names.concurrency("k1"), "not a zset")
    table = await load_usage(any_redis, ["k1", "gone"], now=NOW, offset=8)
    k1 = table.get("k1")
    assert (k1.requests, k1.cost_today, k1.concurrency) == (0, 0.0, 0)
    assert verdict(k1, NOW).accepted
    assert verdict(table.get("gone"), NOW).reason == "deleted"


async def test_keys_with_nothing_to_say_share_the_empty_figures(any_redis: aioredis.Redis) -> None:
    await any_redis.hset("apikey:idle", mapping={"isActive": "true", "dailyCostLimit": "0"})
    table = await load_usage(any_redis, ["idle"], now=NOW, offset=8)
    assert table.by_id == {}
    assert verdict(table.get("idle"), NOW).accepted


async def test_seeded_usage_adds_up_as_crs_writes_it(any_redis: aioredis.Redis) -> None:
    ids = [f"key-{n}" for n in range(60)]
    for key_id in ids:
        await any_redis.hset(f"apikey:{key_id}", mapping={"isActive": "true", "name": key_id})
    assert await seed_usage(any_redis, ids, now=NOW) == 60
    session = KeyopsSession.from_client(any_redis, "test")
    table = await session.usage(ids, now=NOW)
    for key_id in ids[:10]:
        usage = table.get(key_id)
        breakdown = await session.usage_breakdown(key_id, now=NOW)
        assert usage.requests == breakdown.requests > 0
        assert usage.tokens == breakdown.tokens
        assert round(usage.cost_today, 6) == round(breakdown.cost, 6)
        assert usage.cost_total == usage.cost_today
    assert table.get("key-0").concurrency == 1  # every 200th key holds a lease
    assert table.get("key-0").window_start is not None
