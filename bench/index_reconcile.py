"""What finding keys CRS's index misses costs: the SCAN pass of a load, at 100k keys.

    ./dev bench index_reconcile [--keys 100000] [--other-per-key 4] [--runs 3]

A fresh redis-server on loopback gets N seeded CRS keys (valid indexes) plus, per key,
--other-per-key usage-like keys of CRS's other kinds (strings, hashes, sorted sets), since a
live CRS database holds far more keys than key records and SCAN visits every one of them.
Then, --runs times, in this process:
- the index alone: SSCAN of `apikey:idx:all` (what a load read before);
- the SCAN pass alone: `SCAN MATCH apikey:* TYPE hash COUNT 1000` over the whole keyspace;
- a whole load (`load_key_table`: index, SCAN pass beside the HMGET of every row), and the
  same load with the SCAN pass left out (what a load cost before it: trusting `idx:all`);
- the longest single Redis call during the SCAN pass (SLOWLOG, threshold 1 ms);
- a load after 1% of the ids were taken out of `idx:all`, to show they are all found.
Medians are printed; bench/results/index_reconcile.txt holds a run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import redis.asyncio as aioredis

from keyops.core.seeding.writer import seed_dataset
from keyops.core.store import key_table
from keyops.core.store.key_table import index_ids, load_key_table, record_ids
from tests.support.redis_server import start_redis_server


async def add_other_keys(client: aioredis.Redis, ids: list[str], per_key: int) -> int:
    """Keys like CRS's usage counters, so SCAN has the keyspace a live CRS gives it."""
    kinds = ("usage:{id}", "usage:daily:{id}:2026-11-27", "usage:{id}:model:daily:m:2026-11-27",
             "rate_limit:requests:{id}", "usage:records:{id}", "concurrency:{id}")  # fmt: skip
    written = 0
    for offset in range(0, len(ids), 2000):
        pipe = client.pipeline(transaction=False)
        for key_id in ids[offset : offset + 2000]:
            for number in range(per_key):
                name = kinds[number % len(kinds)].format(id=key_id) + f":{number}"
                if number % 3 == 0:
                    pipe.hset(name, mapping={"requests": "1", "tokens": "100"})
                elif number % 3 == 1:
                    pipe.set(name, "1")
                else:
                    pipe.zadd(name, {"x": 1})
                written += 1
        await pipe.execute()
    return written


async def timed_pass(client: aioredis.Redis, source: str) -> tuple[float, int, int]:
    """(seconds, ids found, calls) for one pass over the index or the keyspace."""
    start = time.perf_counter()
    found = calls = 0
    iterator = index_ids(client) if source == "index" else record_ids(client)
    async for batch in iterator:
        found += len(batch)
        calls += 1
    return time.perf_counter() - start, found, calls


async def index_only_load(client: aioredis.Redis) -> float:
    """A load that trusts `idx:all`, as loads did before the SCAN pass."""

    async def nothing(_client: aioredis.Redis, _indexed: dict[str, None]) -> list[str]:
        return []

    real, key_table._scan_unindexed = key_table._scan_unindexed, nothing  # type: ignore[assignment]
    try:
        start = time.perf_counter()
        await load_key_table(client)
        return time.perf_counter() - start
    finally:
        key_table._scan_unindexed = real  # type: ignore[assignment]


async def longest_scan_ms(client: aioredis.Redis) -> float:
    entries = await client.slowlog_get(1024)
    scans = [
        e["duration"]
        for e in entries
        if (c := e["command"]).upper().startswith(b"SCAN" if isinstance(c, bytes) else "SCAN")
    ]
    return max(scans, default=0) / 1000


async def main(keys: int, per_key: int, runs: int) -> None:
    server = start_redis_server()
    client = aioredis.Redis(port=server.port, decode_responses=True)
    try:
        await seed_dataset(client, keys)
        ids = sorted(await client.smembers("apikey:idx:all"))
        others = await add_other_keys(client, ids, per_key)
        size = await client.dbsize()
        print(f"{keys} key records, {others} other keys: {size} keys in the database")
        index_s, scan_s, load_s, before_s, longest = [], [], [], [], []
        for _ in range(runs):
            seconds, found, _ = await timed_pass(client, "index")
            index_s.append(seconds)
            await client.slowlog_reset()
            seconds, found_by_scan, calls = await timed_pass(client, "scan")
            scan_s.append(seconds)
            longest.append(await longest_scan_ms(client))
            start = time.perf_counter()
            table = await load_key_table(client)
            load_s.append(time.perf_counter() - start)
            assert found == found_by_scan == len(table) == keys, (found, found_by_scan, len(table))
            before_s.append(await index_only_load(client))
            print(f"  idx:all {index_s[-1]:.2f} s; SCAN pass {scan_s[-1]:.2f} s in {calls} calls "
                  f"(longest SCAN call {longest[-1]:.1f} ms); whole load {load_s[-1]:.2f} s, "
                  f"without the SCAN pass {before_s[-1]:.2f} s")  # fmt: skip
        print(
            f"median of {runs}: idx:all alone {statistics.median(index_s):.2f} s, SCAN pass alone "
            f"{statistics.median(scan_s):.2f} s, whole load {statistics.median(load_s):.2f} s "
            f"(without the SCAN pass {statistics.median(before_s):.2f} s), "
            f"longest SCAN call {max(longest):.1f} ms"
        )
        hidden = ids[::100]
        await client.srem("apikey:idx:all", *hidden)
        table = await load_key_table(client)
        assert len(table) == keys and len(table.not_in_idx_all) == len(hidden)
        print(f"with {len(hidden)} ids taken out of idx:all: {len(table)} keys loaded, "
              f"{len(table.not_in_idx_all)} reported missing from idx:all")  # fmt: skip
    finally:
        await client.aclose()
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--other-per-key", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.keys, arguments.other_per_key, arguments.runs))
