"""Ways to walk a keyspace full of usage counters for records by prefix: Redis CPU and Python CPU each.

    ./dev bench keyspace_walk [--keys 30000] [--runs 3]

Seeds N keys and their CRS-shaped usage (as bench/usage_100k does) into a fresh redis-server
(the seeder leaves several account stores with an empty index set), then times, per way:
- per reader: one SCAN MATCH apikey:* TYPE hash, and one per store with an empty index set
  (what a load did before it shared one walk);
- shared, coarse MATCH: keyops's KeyspaceWalk (one SCAN, MATCH on the prefixes' first two
  characters, the exact prefix checked in Python);
- shared, TYPE hash: one SCAN with TYPE hash and no MATCH (every usage hash comes back; a
  store of JSON strings would need a second walk);
- shared, no filter: one SCAN returning every name.
The shared ways all check the exact prefixes in Python.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import cast

import redis.asyncio as aioredis

from bench.usage_100k import seed
from keyops.core.schema import layout
from keyops.core.schema.platforms import ACCOUNT_STORES
from keyops.core.store.keyspace_walk import SCAN_COUNT, KeyspaceWalk
from tests.support.redis_server import start_redis_server


async def _scan_all(client: aioredis.Redis, **filters: str) -> int:
    cursor, seen = 0, 0
    while True:
        cursor, names = await client.scan(cursor, count=SCAN_COUNT, **filters)  # type: ignore[arg-type]
        seen += len(cast(list[str], names))
        if cursor == 0:
            return seen


async def per_reader(client: aioredis.Redis) -> None:
    await _scan_all(client, match=f"{layout.API_KEY_PREFIX}*", _type="hash")
    for store in ACCOUNT_STORES.values():
        if not await client.scard(store.index_set):
            kind = "string" if store.json_string else "hash"
            await _scan_all(client, match=f"{store.record_prefix}*", _type=kind)


async def shared_coarse(client: aioredis.Redis) -> None:
    await KeyspaceWalk(client).under(layout.API_KEY_PREFIX)


class _TypeHashWalk(KeyspaceWalk):
    def _filters(self) -> dict[str, str]:
        return {"_type": "hash"}


class _UnfilteredWalk(KeyspaceWalk):
    def _filters(self) -> dict[str, str]:
        return {}


async def shared_type_hash(client: aioredis.Redis) -> None:
    await _TypeHashWalk(client).under(layout.API_KEY_PREFIX)


async def shared_no_filter(client: aioredis.Redis) -> None:
    await _UnfilteredWalk(client).under(layout.API_KEY_PREFIX)


WAYS: dict[str, Callable[[aioredis.Redis], Awaitable[None]]] = {
    "per reader": per_reader,
    "shared, coarse MATCH": shared_coarse,
    "shared, TYPE hash": shared_type_hash,
    "shared, no filter": shared_no_filter,
}


async def redis_cpu(client: aioredis.Redis) -> float:
    info = await client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def measure(url: str, runs: int) -> None:
    client = aioredis.from_url(url, decode_responses=True)
    empty = [
        s.platform.value for s in ACCOUNT_STORES.values() if not await client.scard(s.index_set)
    ]
    print(f"{await client.dbsize()} names in Redis; stores with an empty index set: {empty}")
    for name, way in WAYS.items():
        walls, pythons, servers = [], [], []
        for _ in range(runs):
            start, cpu, server = time.perf_counter(), time.process_time(), await redis_cpu(client)
            await way(client)
            walls.append(time.perf_counter() - start)
            pythons.append(time.process_time() - cpu)
            servers.append(await redis_cpu(client) - server)
        print(
            f"  {name:22} median wall {statistics.median(walls):.2f} s · "
            f"Python CPU {statistics.median(pythons):.2f} s · Redis CPU {statistics.median(servers):.2f} s"
        )
    await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    server = start_redis_server()
    try:
        asyncio.run(seed(server.url, args.keys))
        asyncio.run(measure(server.url, args.runs))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
