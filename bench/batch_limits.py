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
from keyops.core.edits.limits import LimitsSet
from keyops.core.schema.encoding import now_iso
from keyops.core.seeding.writer import seed_dataset
from tests.support.redis_server import start_redis_server


async def baseline(client: aioredis.Redis, ids: list[str], run_number: int) -> float:
    start = time.perf_counter()
    stamp = now_iso()
    fields = {
        "concurrencyLimit": str(100 + run_number),
        "dailyCostLimit": "9.5",
        "updatedAt": stamp,
    }
    for offset in range(0, len(ids), 1000):
        pipe = client.pipeline(transaction=False)
        for key_id in ids[offset : offset + 1000]:
            pipe.hset(f"apikey:{key_id}", mapping=fields)
        await pipe.execute()
    return time.perf_counter() - start


async def measure(size: int, repeats: int) -> dict[str, Any]:
    server = start_redis_server()
    try:
        client = aioredis.from_url(server.url, decode_responses=True)
        await seed_dataset(client, size)
        session = KeyopsSession.from_client(client, server.url)
        table, _ = await session.load()
        ids = [row.id for row in table if not row.is_deleted]
        elapsed_runs, base_runs, longest_ms, peak_added = [], [], 0.0, 0.0
        slowest: object = b""
        for run_number in range(repeats):
            table, _ = await session.load(refresh=True)
            gc.collect()
            rss_loaded = rss_mb()[0]
            reset_peak()
            await client.slowlog_reset()
            request = LimitsSet.build(
                {"concurrency": str(run_number + 1), "daily_cost": f"{run_number + 1}.5"}
            )
            start = time.perf_counter()
            plan = await session.plan(ids, request)
            assert len(plan.plans) == len(ids), (len(plan.plans), len(ids))
            outcome = None
            async for event in session.run(plan):
                outcome = event.outcome or outcome
            elapsed_runs.append(time.perf_counter() - start)
            peak_added = max(peak_added, rss_mb()[1] - rss_loaded)
            assert outcome is not None and outcome.status.value == "done", outcome
            for entry in await client.slowlog_get(1024):
                if entry["duration"] / 1000 > longest_ms:
                    longest_ms, slowest = entry["duration"] / 1000, entry["command"][:60]
            del plan, outcome
            gc.collect()
            base_runs.append(await baseline(client, ids, run_number))
        elapsed, base = statistics.median(elapsed_runs), statistics.median(base_runs)
        await client.aclose()
        return {
            "keys": len(ids), "keyops_s": elapsed, "keyops_keys_per_s": len(ids) / elapsed,
            "baseline_s": base, "baseline_keys_per_s": len(ids) / base, "ratio": elapsed / base,
            "longest_call_ms": longest_ms, "slowest": str(slowest), "added_mb": peak_added,
            "rss_loaded_mb": rss_loaded, "runs": repeats,
            "keyops_runs_s": elapsed_runs, "baseline_runs_s": base_runs,
        }  # fmt: skip
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--runs", type=int, default=3, help="runs per size; medians are reported")
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        r = asyncio.run(measure(size, args.runs))
        print(
            f"{r['keys']:>7} keys (median of {r['runs']}): keyops {r['keyops_s']:.2f} s "
            f"({r['keyops_keys_per_s']:,.0f} keys/s), baseline HSET {r['baseline_s']:.2f} s "
            f"({r['baseline_keys_per_s']:,.0f} keys/s), ratio {r['ratio']:.2f}x, longest Redis "
            f"call {r['longest_call_ms']:.1f} ms, memory added {r['added_mb']:.0f} MB over a "
            f"{r['rss_loaded_mb']:.0f} MB loaded list",
            flush=True,
        )
        print("  " + json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
