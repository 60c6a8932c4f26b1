"""`keys top` on a figure one value holds reads only that value per key, then the winners' full
usage: it must rank exactly as reading every key's full usage does (same winners, same order,
same count of ranked keys, full figures for the winners), on a real CRS's usage dump and on
data no CRS should write but a damaged or hand-edited Redis holds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis

from keyops.core.api import verdict
from keyops.core.schema import layout
from keyops.core.store.top_keys import QUICK, Ranking, rank_every_key
from keyops.core.usage import names
from keyops.core.usage.figures import FIGURES, figure
from keyops.core.usage.periods import date_part
from tests.support.dump import load_dump, usage_expected, usage_fixture

EXPECTED = usage_expected()
DUMP_NOW = (
    datetime.fromisoformat(EXPECTED["dump_utc"].replace("Z", "+00:00")).astimezone(UTC).timestamp()
)
DUMP_OFFSET: int = EXPECTED["timezone_offset"]
NOW = 1_796_185_346.603  # 2026-12-02T04:22:26.603Z
TODAY = date_part(NOW, 8)


def _shown(ranking: Ranking) -> dict[str, Any]:
    """What `keys top` prints: the winners in order, each with every figure and its verdict,
    and the count of ranked keys."""
    now = ranking.usage.now
    winners = []
    for row in ranking.rows:
        usage = ranking.usage.get(row.id)
        answer = verdict(usage, now)
        figures = [figure(usage, name, now) for name in FIGURES]
        winners.append((row.id, row.name, figures, answer.accepted, answer.reason))
    return {"winners": winners, "ranked": ranking.ranked}


async def _both(
    client: aioredis.Redis, by: str, count: int, include_deleted: bool, now: float, offset: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    shown = []
    for full_read in (False, True):
        ranking = await rank_every_key(
            client, by, count, include_deleted=include_deleted, now=now, offset=offset,
            full_read=full_read,
        )  # fmt: skip
        shown.append(_shown(ranking))
    return shown[0], shown[1]


@pytest.mark.parametrize("include_deleted", [False, True])
@pytest.mark.parametrize("by", sorted(QUICK))
async def test_the_quick_read_ranks_a_crs_dump_as_reading_all_usage_does(
    real_redis: aioredis.Redis, by: str, include_deleted: bool
) -> None:
    await load_dump(real_redis, usage_fixture())
    for count in (1, 10, 10_000):
        quick, full = await _both(real_redis, by, count, include_deleted, DUMP_NOW, DUMP_OFFSET)
        assert quick == full
    assert full["winners"][0][2][FIGURES.index(by)] > 0  # the dump has usage to rank


async def _hostile(client: aioredis.Redis) -> None:
    """Keys no CRS writes this way, each a way the quick read could part from the full one."""

    async def key(key_id: str, indexed: bool = True, **fields: str) -> None:
        await client.hset(layout.api_key(key_id), mapping={"name": key_id, **fields})
        if indexed:
            await client.sadd(layout.IDX_ALL, key_id)

    await client.set(layout.INDEX_VERSION, "2")
    # Ties: the same figures, written in an order that is not the ids'.
    for key_id in ("tie-c", "tie-a", "tie-b"):
        await key(key_id, isActive="true")
        await client.set(names.daily_cost(key_id, TODAY), "7.5")
        await client.set(names.total_cost(key_id), "7.50")
        await client.hset(names.daily_usage(key_id, TODAY), mapping={
            "requests": "3", "inputTokens": "10", "outputTokens": "5",
        })  # fmt: skip
    # Deleted keys with the top figures: soft-deleted, and a record gone from under its index
    # entry while its counters stay.
    await key("deleted-rich", isActive="false", isDeleted="true")
    await client.set(names.daily_cost("deleted-rich", TODAY), "9999")
    await client.set(names.total_cost("deleted-rich"), "9999")
    await client.hset(names.daily_usage("deleted-rich", TODAY), "requests", "9999")
    await client.sadd(layout.IDX_ALL, "gone-rich")
    await client.set(names.daily_cost("gone-rich", TODAY), "8888")
    await client.set(names.total_cost("gone-rich"), "8888")
    await client.hset(names.daily_usage("gone-rich", TODAY), "cacheReadTokens", "8888888")
    # Restored (isDeleted removed), never-deleted with isDeleted "false", no life fields at all
    # but a limit (present), and no field the loader reads at all (gone to the loader).
    await key("restored", isActive="true", restoredAt="2026-12-01T00:00:00Z", dailyCostLimit="10")
    await client.set(names.daily_cost("restored", TODAY), "12")
    await key("undeleted", isActive="false", isDeleted="false")
    await client.set(names.daily_cost("undeleted", TODAY), "11")
    await key("lifeless-limited", dailyCostLimit="5")
    await client.set(names.daily_cost("lifeless-limited", TODAY), "10.25")
    await client.hset(names.daily_usage("lifeless-limited", TODAY), "requests", "77")
    await key("lifeless-bare")
    await client.set(names.daily_cost("lifeless-bare", TODAY), "10.5")
    # A record the index lacks (found by SCAN only), with a top figure.
    await key("unindexed", indexed=False, isActive="true")
    await client.set(names.daily_cost("unindexed", TODAY), "500")
    await client.set(names.total_cost("unindexed"), "1")
    await client.hset(names.daily_usage("unindexed", TODAY), "outputTokens", "123456")
    # Strings CRS's parseFloat/parseInt read oddly, or that overflow.
    odd = {
        "nan": "NaN", "inf": "Infinity", "minus-inf": "-Infinity", "huge": "1e400",
        "big": "1e308", "spaced": " 3.25 ", "hex": "0x10", "trailing": "12abc",
        "negative": "-4", "empty": "", "digits": "9" * 5000, "under": "0_5",
    }  # fmt: skip
    for name, text in odd.items():
        key_id = f"odd-{name}"
        await key(key_id, isActive="true")
        await client.set(names.daily_cost(key_id, TODAY), text)
        await client.set(names.total_cost(key_id), text)
        await client.hset(names.daily_usage(key_id, TODAY), mapping={
            "requests": text, "inputTokens": text, "cacheCreateTokens": "2",
        })  # fmt: skip
    # Counters of the wrong type (the reads answer nil or WRONGTYPE), and a record that is not
    # a hash at all under an indexed id.
    await key("wrong-types", isActive="true")
    await client.hset(names.daily_cost("wrong-types", TODAY), "x", "1")
    await client.rpush(names.total_cost("wrong-types"), "1")
    await client.set(names.daily_usage("wrong-types", TODAY), "not a hash")
    await client.set(layout.api_key("not-a-hash"), "1")
    await client.sadd(layout.IDX_ALL, "not-a-hash")
    await client.set(names.daily_cost("not-a-hash", TODAY), "600")
    # A non-ASCII id (its byte length differs from its length in characters).
    await key("键-一", isActive="true")
    await client.set(names.daily_cost("键-一", TODAY), "13")
    await client.hset(names.daily_usage("键-一", TODAY), "requests", "13")
    # Yesterday's figures do not count today.
    await key("yesterday", isActive="true")
    await client.set(names.daily_cost("yesterday", date_part(NOW - 86_400, 8)), "700")


@pytest.mark.parametrize("include_deleted", [False, True])
@pytest.mark.parametrize("by", sorted(QUICK))
async def test_the_quick_read_ranks_hostile_data_as_reading_all_usage_does(
    any_redis: aioredis.Redis, by: str, include_deleted: bool
) -> None:
    await _hostile(any_redis)
    for count in (1, 3, 8, 100):  # 100: fewer keys than asked for
        quick, full = await _both(any_redis, by, count, include_deleted, NOW, 8)
        assert quick == full


async def test_top_cost_today_skips_deleted_and_gone_keys_and_breaks_ties_by_id(
    real_redis: aioredis.Redis,
) -> None:
    await _hostile(real_redis)
    ranking = await rank_every_key(
        real_redis, "cost.today", 9, include_deleted=False, now=NOW, offset=8
    )
    # CRS's parseFloat reads 5,000 nines, '1e400' and 'Infinity' as Infinity (those rank
    # first) and '12abc' as 12.
    assert [row.id for row in ranking.rows] == [
        "odd-digits", "odd-huge", "odd-inf", "odd-big", "unindexed", "键-一", "odd-trailing",
        "restored", "undeleted",
    ]  # fmt: skip
    # Every key but the soft-deleted one, the gone one, the record that is not a hash and the
    # one holding no field CRS reads.
    assert ranking.ranked == 22
    # The winners carry their full usage: CRS refuses the restored key, over its daily limit.
    assert verdict(ranking.usage.get("restored"), NOW).reason == "daily-cost"
    with_deleted = await rank_every_key(
        real_redis, "cost.today", 3, include_deleted=True, now=NOW, offset=8
    )
    assert [row.id for row in with_deleted.rows] == ["odd-digits", "odd-huge", "odd-inf"]
    assert with_deleted.ranked == 26


@pytest.mark.parametrize("include_deleted", [False, True])
@pytest.mark.parametrize("by", sorted(QUICK))
async def test_without_any_usage_every_key_ties_at_zero_and_ranks_by_id(
    any_redis: aioredis.Redis, by: str, include_deleted: bool
) -> None:
    for key_id in ("k3", "k1", "k2", "k0"):
        await any_redis.hset(layout.api_key(key_id), mapping={"isActive": "true"})
    quick, full = await _both(any_redis, by, 3, include_deleted, NOW, 8)
    assert quick == full
    assert [winner[0] for winner in quick["winners"]] == ["k0", "k1", "k2"]
    assert quick["ranked"] == 4


async def test_keys_read_in_several_chunks_rank_as_reading_all_usage_does(
    real_redis: aioredis.Redis,
) -> None:
    """Thousands of keys (several chunks read ahead), the top ones in the last chunks and
    deleted ones among them."""
    pipe = real_redis.pipeline(transaction=False)
    for n in range(2_500):
        key_id = f"key-{n:05d}"
        fields = {"isActive": "true", **({"isDeleted": "true"} if n % 7 == 0 else {})}
        pipe.hset(layout.api_key(key_id), mapping=fields)
        pipe.sadd(layout.IDX_ALL, key_id)
        pipe.set(names.daily_cost(key_id, TODAY), str(n % 1000 / 8))
        pipe.hset(names.daily_usage(key_id, TODAY), mapping={"requests": n % 300, "inputTokens": n})
    pipe.set(layout.INDEX_VERSION, "2")
    await pipe.execute()
    for by in sorted(QUICK):
        for include_deleted in (False, True):
            quick, full = await _both(real_redis, by, 25, include_deleted, NOW, 8)
            assert quick == full
            assert quick["ranked"] == (2_500 if include_deleted else 2_500 - 358)
