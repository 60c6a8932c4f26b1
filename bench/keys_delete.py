"""Keys delete on 10k keys end to end, against a plain pipelined write of the same effect.

    ./dev bench keys_delete [--sizes 10000] [--runs 3]

A fresh redis-server on loopback, N seeded CRS keys, the key list loaded as the CLI does. Then:
- keyops: `keys delete` of every live key: plan (reads each key's fields), lock, journal +
  apply + audit in chunks (record fields, hash_map entry, legacy copy, cost ranks and
  set:active/set:deleted, the state before journaled), verify, release; timed end to end;
- baseline: what CRS's delete writes, pipelined 1,000 keys a round trip with nothing else:
  HSET of the five fields, HDEL of the hash_map entry (hashes read beforehand, untimed), ZREM
  from the four cost ranks, SREM set:active, SADD set:deleted; no lock, compare-and-set,
  journal or audit;
- the longest single Redis call during the keyops runs (SLOWLOG);
- memory the batch adds over the loaded key list (peak RSS minus RSS after loading).
Between runs the keys are restored (keyops: ops revert; baseline: the reverse writes), untimed.
"""

from __future__ import annotations

import statistics
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
from keyops.core.batch.config import LIFECYCLE_CHUNK
from keyops.core.edits.lifecycle import KeysDelete
from keyops.core.schema.encoding import now_iso

RANKS = ("cost_rank:today", "cost_rank:7days", "cost_rank:30days", "cost_rank:all")


def pairs(ids: list[str], digests: list[str], offset: int) -> Any:
    return zip(ids[offset : offset + 1000], digests[offset : offset + 1000], strict=True)


async def baseline(client: aioredis.Redis, ids: list[str], digests: list[str]) -> float:
    async def write() -> None:
        fields = {"isDeleted": "true", "deletedAt": now_iso(), "deletedBy": "bench",
                  "deletedByType": "admin", "isActive": "false"}  # fmt: skip
        for offset in range(0, len(ids), 1000):
            pipe = client.pipeline(transaction=False)
            for key_id, digest in pairs(ids, digests, offset):
                pipe.hset(f"apikey:{key_id}", mapping=fields)
                pipe.hdel("apikey:hash_map", digest)
                for rank in RANKS:
                    pipe.zrem(rank, key_id)
                pipe.srem("apikey:set:active", key_id)
                pipe.sadd("apikey:set:deleted", key_id)
            await pipe.execute()

    return (await timed(write))[0]


async def undo_baseline(client: aioredis.Redis, ids: list[str], digests: list[str]) -> None:
    for offset in range(0, len(ids), 1000):
        pipe = client.pipeline(transaction=False)
        for key_id, digest in pairs(ids, digests, offset):
            pipe.hdel(f"apikey:{key_id}", "isDeleted", "deletedAt", "deletedBy", "deletedByType")
            pipe.hset(f"apikey:{key_id}", "isActive", "true")
            pipe.hset("apikey:hash_map", digest, key_id)
            pipe.srem("apikey:set:deleted", key_id)
            pipe.sadd("apikey:set:active", key_id)
        await pipe.execute()


async def measure(size: int, repeats: int, options: RunOptions) -> dict[str, Any]:
    async with seeded_redis(size, options.redis_nice) as (server, client):
        session = KeyopsSession.from_client(client, server.url)
        table, _ = await session.load()
        ids = [row.id for row in table if not row.is_deleted and row.is_active]
        pipe = client.pipeline(transaction=False)
        for key_id in ids:
            pipe.hget(f"apikey:{key_id}", "apiKey")
        digests = [d or "" for d in await pipe.execute()]
        log, memory, slowlog = RunLog(), PeakMemory(), options.slowlog(client)
        rss_loaded = 0.0
        for _ in range(repeats):
            table, _ = await session.load(refresh=True)
            rss_loaded = memory.start()

            async def delete() -> Any:
                plan = await session.plan(ids, KeysDelete())
                assert len(plan.plans) == len(ids), (len(plan.plans), len(ids))
                return await run_to_end(session, plan)

            outcome = await measured_run(log, slowlog, memory, delete)
            await run_to_end(session, await session.plan_revert(outcome.op_id))
            del outcome
            log.baseline.append(await baseline(client, ids, digests))
            await undo_baseline(client, ids, digests)
        options.log = log
        longest_ms, slowest = log.longest_call()
        # Script calls over 1 ms (the server's usual SLOWLOG threshold), whatever --slowlog-us.
        script_ms = [ms for ms in log.script_ms() if ms >= 1]
        return {
            **log.rates(len(ids)),
            "longest_call_ms": longest_ms, "slowest": slowest, "added_mb": log.added_mb,
            "rss_loaded_mb": rss_loaded, "runs": repeats,
            "chunks": repeats * -(-len(ids) // LIFECYCLE_CHUNK),
            "script_calls_over_1ms": len(script_ms),
            "script_calls_over_10ms": sum(1 for ms in script_ms if ms > 10),
            "script_median_over_1ms": statistics.median(script_ms) if script_ms else 0.0,
            "keyops_runs_s": log.keyops, "baseline_runs_s": log.baseline,
        }  # fmt: skip


def line(r: dict[str, Any]) -> str:
    return (
        f"{r['keys']:>7} keys (median of {r['runs']}): keyops {r['keyops_s']:.2f} s "
        f"({r['keyops_keys_per_s']:,.0f} keys/s), baseline pipelined delete writes "
        f"{r['baseline_s']:.2f} s ({r['baseline_keys_per_s']:,.0f} keys/s), ratio "
        f"{r['ratio']:.2f}x, longest Redis call {r['longest_call_ms']:.1f} ms, memory added "
        f"{r['added_mb']:.0f} MB over a {r['rss_loaded_mb']:.0f} MB loaded list; of "
        f"{r['chunks']} script calls"
        f" ({LIFECYCLE_CHUNK} keys each) {r['script_calls_over_10ms']} took "
        f"over 10 ms"
    )


def main() -> None:
    run_sizes(size_parser(__doc__, "10000").parse_args(), measure, line)


if __name__ == "__main__":
    main()
