"""Limits set on 10k and 100k keys end to end, against plain pipelined HSET (issue 14 numbers).

    ./dev bench batch_limits [--sizes 10000,100000] [--runs 3]

As bench/batch_tags.py, for `limits set --concurrency N --daily-cost USD`: a fresh
redis-server on loopback, N seeded CRS keys, the key list loaded as the CLI does. Then:
- keyops: plan (a limit edit reads each key's fields from Redis: the loaded list holds no
  limits), lock, journal + apply + audit in chunks, verify, release; timed end to end;
- baseline: plain pipelined HSET of the same three fields (concurrencyLimit, dailyCostLimit,
  updatedAt), 1,000 a round trip, no lock, no compare-and-set, no audit;
- the longest single Redis call during the keyops runs (SLOWLOG);
- memory the batch adds over the loaded key list (peak RSS minus RSS after loading).
Each run sets new values, so every key changes; keyops and the baseline alternate; medians.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from bench.support.harness import (
    PeakMemory,
    RunLog,
    RunOptions,
    measured_run,
    run_sizes,
    run_to_end,
    seeded_redis,
    size_parser,
    timed,
)
from keyops.core.api import KeyopsSession
from keyops.core.edits.limits import LimitsSet
from keyops.core.schema.encoding import now_iso


async def baseline(client: aioredis.Redis, ids: list[str], run_number: int) -> float:
    async def write() -> None:
        fields = {
            "concurrencyLimit": str(100 + run_number),
            "dailyCostLimit": "9.5",
            "updatedAt": now_iso(),
        }
        for offset in range(0, len(ids), 1000):
            pipe = client.pipeline(transaction=False)
            for key_id in ids[offset : offset + 1000]:
                pipe.hset(f"apikey:{key_id}", mapping=fields)
            await pipe.execute()

    return (await timed(write))[0]


async def measure(size: int, repeats: int, options: RunOptions) -> dict[str, Any]:
    async with seeded_redis(size, options.redis_nice) as (server, client):
        session = KeyopsSession.from_client(client, server.url)
        table, _ = await session.load()
        ids = [row.id for row in table if not row.is_deleted]
        log, memory, slowlog = RunLog(), PeakMemory(), options.slowlog(client)
        rss_loaded = 0.0
        for run_number in range(repeats):
            table, _ = await session.load(refresh=True)
            rss_loaded = memory.start()
            request = LimitsSet.build(
                {"concurrency": str(run_number + 1), "daily_cost": f"{run_number + 1}.5"}
            )

            async def edit(request: LimitsSet = request) -> None:
                plan = await session.plan(ids, request)
                assert len(plan.plans) == len(ids), (len(plan.plans), len(ids))
                await run_to_end(session, plan)

            await measured_run(log, slowlog, memory, edit)
            log.baseline.append(await baseline(client, ids, run_number))
        options.log = log
        longest_ms, slowest = log.longest_call()
        return {
            **log.rates(len(ids)),
            "longest_call_ms": longest_ms, "slowest": slowest, "added_mb": log.added_mb,
            "rss_loaded_mb": rss_loaded, "runs": repeats,
            "keyops_runs_s": log.keyops, "baseline_runs_s": log.baseline,
        }  # fmt: skip


def line(r: dict[str, Any]) -> str:
    return (
        f"{r['keys']:>7} keys (median of {r['runs']}): keyops {r['keyops_s']:.2f} s "
        f"({r['keyops_keys_per_s']:,.0f} keys/s), baseline HSET {r['baseline_s']:.2f} s "
        f"({r['baseline_keys_per_s']:,.0f} keys/s), ratio {r['ratio']:.2f}x, longest Redis "
        f"call {r['longest_call_ms']:.1f} ms, memory added {r['added_mb']:.0f} MB over a "
        f"{r['rss_loaded_mb']:.0f} MB loaded list"
    )


def main() -> None:
    run_sizes(size_parser(__doc__, "10000,100000").parse_args(), measure, line)


if __name__ == "__main__":
    main()
