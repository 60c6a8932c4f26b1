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

import argparse
import asyncio
import gc
import json
import statistics
import time
from typing import Any

import redis.asyncio as aioredis

from bench.batch_tags import reset_peak, rss_mb
from keyops.core.api import KeyopsSession
from keyops.core.batch.config import LIFECYCLE_CHUNK
from keyops.core.edits.lifecycle import KeysDelete
from keyops.core.schema.encoding import now_iso
from keyops.core.seeding.writer import seed_dataset
from tests.support.redis_server import start_redis_server

RANKS = ("cost_rank:today", "cost_rank:7days", "cost_rank:30days", "cost_rank:all")


async def _run(session: KeyopsSession, plan: Any) -> Any:
    outcome = None
    async for event in session.run(plan):
        outcome = event.outcome or outcome
    assert outcome is not None and outcome.status.value == "done", outcome
    return outcome


def pairs(ids: list[str], digests: list[str], offset: int) -> Any:
    return zip(ids[offset : offset + 1000], digests[offset : offset + 1000], strict=True)


async def baseline(client: aioredis.Redis, ids: list[str], digests: list[str]) -> float:
    start = time.perf_counter()
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
    return time.perf_counter() - start


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


async def measure(size: int, repeats: int) -> dict[str, Any]:
    server = start_redis_server()
    try:
        client = aioredis.from_url(server.url, decode_responses=True)
        await seed_dataset(client, size)
        session = KeyopsSession.from_client(client, server.url)
        table, _ = await session.load()
        ids = [row.id for row in table if not row.is_deleted and row.is_active]
        pipe = client.pipeline(transaction=False)
        for key_id in ids:
            pipe.hget(f"apikey:{key_id}", "apiKey")
        digests = [d or "" for d in await pipe.execute()]
        elapsed_runs, base_runs, longest_ms, peak_added = [], [], 0.0, 0.0
        slowest: object = b""
        rss_loaded = 0.0
        script_ms: list[float] = []  # script calls over 1 ms (the server's slowlog threshold)
        for _ in range(repeats):
            table, _ = await session.load(refresh=True)
            gc.collect()
            rss_loaded = rss_mb()[0]
            reset_peak()
            await client.slowlog_reset()
            start = time.perf_counter()
            plan = await session.plan(ids, KeysDelete())
            assert len(plan.plans) == len(ids), (len(plan.plans), len(ids))
            outcome = await _run(session, plan)
            elapsed_runs.append(time.perf_counter() - start)
            peak_added = max(peak_added, rss_mb()[1] - rss_loaded)
            for entry in await client.slowlog_get(1024):
                if str(entry["command"]).startswith("b'EVALSHA"):
                    script_ms.append(entry["duration"] / 1000)
                if entry["duration"] / 1000 > longest_ms:
                    longest_ms, slowest = entry["duration"] / 1000, entry["command"][:60]
            await _run(session, await session.plan_revert(outcome.op_id))
            del plan, outcome
            gc.collect()
            base_runs.append(await baseline(client, ids, digests))
            await undo_baseline(client, ids, digests)
        elapsed, base = statistics.median(elapsed_runs), statistics.median(base_runs)
        await client.aclose()
        return {
            "keys": len(ids), "keyops_s": elapsed, "keyops_keys_per_s": len(ids) / elapsed,
            "baseline_s": base, "baseline_keys_per_s": len(ids) / base, "ratio": elapsed / base,
            "longest_call_ms": longest_ms, "slowest": str(slowest), "added_mb": peak_added,
            "rss_loaded_mb": rss_loaded, "runs": repeats,
            "chunks": repeats * -(-len(ids) // LIFECYCLE_CHUNK),
            "script_calls_over_1ms": len(script_ms),
            "script_calls_over_10ms": sum(1 for ms in script_ms if ms > 10),
            "script_median_over_1ms": statistics.median(script_ms) if script_ms else 0.0,
            "keyops_runs_s": elapsed_runs, "baseline_runs_s": base_runs,
        }  # fmt: skip
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000")
    parser.add_argument("--runs", type=int, default=3, help="runs per size; medians are reported")
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        r = asyncio.run(measure(size, args.runs))
        print(
            f"{r['keys']:>7} keys (median of {r['runs']}): keyops {r['keyops_s']:.2f} s "
            f"({r['keyops_keys_per_s']:,.0f} keys/s), baseline pipelined delete writes "
            f"{r['baseline_s']:.2f} s ({r['baseline_keys_per_s']:,.0f} keys/s), ratio "
            f"{r['ratio']:.2f}x, longest Redis call {r['longest_call_ms']:.1f} ms, memory added "
            f"{r['added_mb']:.0f} MB over a {r['rss_loaded_mb']:.0f} MB loaded list; of "
            f"{r['chunks']} script calls"
            f" ({LIFECYCLE_CHUNK} keys each) {r['script_calls_over_10ms']} took "
            f"over 10 ms",
            flush=True,
        )
        print("  " + json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
