"""The usage loader on real redis-server and fakeredis: odd key ids, wrong types, missing
records, and data from keyops's own usage seeder read back as CRS's key list would add it."""

from __future__ import annotations

import redis.asyncio as aioredis

from keyops.core.api import KeyopsSession, verdict
from keyops.core.seeding.usage import seed_usage
from keyops.core.usage import names
from keyops.core.usage.loader import load_usage
from keyops.core.usage.periods import date_part
from tests.support.redis_server import RedisServer

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


async def test_odd_counter_strings_are_read_as_crs_parse_int_and_parse_float_read_them(
    any_redis: aioredis.Redis,
) -> None:
    """What CRS compares is what its parseInt/parseFloat make of the strings: '1e3' window
    requests are 1 (not 1,000: the key is not at its limit of 5), an 'Infinity' or '1e999' cost
    is infinite (CRS answers 402 at any daily limit), and digits before junk still count."""
    started = str(int(NOW * 1000) - 1000)
    for key_id, cost, requests in (
        ("sci", "0.5", "1e3"),
        ("inf", "Infinity", "0"),
        ("huge", "1e999", "0"),
        ("junk", "0.75 dollars", "2 requests"),
        ("python-only", "1_000", "1_000"),
        ("other-digits", "\u0661\u0660", "\u0661\u0660"),
    ):
        await any_redis.hset(f"apikey:{key_id}", mapping={
            "isActive": "true", "rateLimitWindow": "60", "rateLimitRequests": "5",
            "dailyCostLimit": "1",
        })  # fmt: skip
        await any_redis.set(names.daily_cost(key_id, TODAY), cost)
        await any_redis.set(names.window_start(key_id), started)
        await any_redis.set(names.window_requests(key_id), requests)
    ids = ["sci", "inf", "huge", "junk", "python-only", "other-digits"]
    table = await load_usage(any_redis, ids, now=NOW, offset=8)
    assert table.get("sci").window_requests == 1
    assert verdict(table.get("sci"), NOW).accepted
    for key_id in ("inf", "huge"):
        assert verdict(table.get(key_id), NOW).reason == "daily-cost"
    junk = table.get("junk")
    assert (junk.cost_today, junk.window_requests) == (0.75, 2)
    # Python's float() and int() read these as 1000 and 10; JavaScript reads 1 and NaN.
    assert (table.get("python-only").cost_today, table.get("python-only").window_requests) == (1, 1)
    assert verdict(table.get("python-only"), NOW).reason == "daily-cost"
    assert table.get("other-digits").cost_today == 0.0
    assert table.get("other-digits").window_requests == 0


async def test_a_cost_that_is_not_utf_8_after_its_digits_still_counts(
    real_redis: aioredis.Redis, redis_server: RedisServer
) -> None:
    """CRS's client decodes a stray byte to U+FFFD and parseFloat stops there: '3\\xff' is 3."""
    raw = aioredis.Redis(port=redis_server.port)
    try:
        await raw.hset("apikey:k", mapping={"isActive": "true", "dailyCostLimit": "2"})
        await raw.set(names.daily_cost("k", TODAY), b"3\xff")
        await raw.hset(names.daily_usage("k", TODAY), "requests", b"7\xfe")
    finally:
        await raw.aclose()
    reader = aioredis.Redis(
        port=redis_server.port,
        decode_responses=True,
        encoding_errors="surrogateescape",
    )
    try:
        usage = (await load_usage(reader, ["k"], now=NOW, offset=8)).get("k")
    finally:
        await reader.aclose()
    assert (usage.cost_today, usage.requests) == (3.0, 7)
    assert verdict(usage, NOW).reason == "daily-cost"


async def test_a_limit_stored_as_infinity_is_a_limit_as_crs_parse_float_reads_it(
    any_redis: aioredis.Redis,
) -> None:
    """parseFloat('Infinity') is a limit no finite cost reaches, and an infinite cost reaches
    it (CRS: Infinity >= Infinity, 402)."""
    for key_id, cost in (("finite", "5"), ("infinite", "Infinity")):
        await any_redis.hset(
            f"apikey:{key_id}", mapping={"isActive": "true", "dailyCostLimit": "Infinity"}
        )
        await any_redis.set(names.daily_cost(key_id, TODAY), cost)
    table = await load_usage(any_redis, ["finite", "infinite"], now=NOW, offset=8)
    assert table.get("finite").shares(NOW) == [("daily-cost", 0.0)]
    assert verdict(table.get("finite"), NOW).accepted
    assert verdict(table.get("infinite"), NOW).reason == "daily-cost"
