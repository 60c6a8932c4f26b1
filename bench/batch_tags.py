"""Tag add on 1k, 10k and 100k keys end to end, against plain pipelined HSET (issue 3 numbers).

    ./dev bench batch_tags [--sizes 1000,10000,100000]

For each size: a fresh redis-server on loopback, N seeded CRS keys, the key list loaded as the
console would. Then, in one process:
- keyops: plan (read every key), lock, journal + apply + audit in chunks, verify, release;
  timed end to end, keys/s;
- baseline: plain pipelined HSET of the same two fields (tags, updatedAt), 1,000 a round trip,
  no lock, no CAS, no index, no audit;
- the longest single Redis call during the keyops batches (SLOWLOG, threshold 1 ms);
- each size is run --runs times (default 3), keyops and baseline alternating; medians reported;
- memory the batch adds over the loaded key list (peak RSS during the batch minus RSS after
  loading, read from /proc/self/status VmHWM after resetting it).
Targets at 100k: >= 25,000 keys/s, no slower than 2x the baseline, longest call <= 10 ms,
<= 50 MB added.
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
from keyops.core.api import KeyopsSession, TagEdit
from keyops.core.schema.encoding import now_iso


async def baseline(client: aioredis.Redis, ids: list[str]) -> float:
    stamp = now_iso()

    async def write() -> None:
        for offset in range(0, len(ids), 1000):
            pipe = client.pipeline(transaction=False)
            for key_id in ids[offset : offset + 1000]:
                pipe.hset(f"apikey:{key_id}", mapping={"tags": '["baseline"]', "updatedAt": stamp})
            await pipe.execute()

    return (await timed(write))[0]


async def measure(size: int, repeats: int, options: RunOptions) -> dict[str, Any]:
    async with seeded_redis(size, options.redis_nice) as (server, client):
        session = KeyopsSession.from_client(client, server.url)
        table, _ = await session.load()
        ids = [row.id for row in table if not row.is_deleted]
        log, memory, slowlog = RunLog(), PeakMemory(), options.slowlog(client)
        rss_loaded = memory.start()
        for run_number in range(repeats):
            # keyops and the baseline alternate, so both see the same machine conditions. The
            # key list is loaded again first (untimed), as the CLI does for every command: the
            # baseline has just rewritten every key's tags.
            if run_number:
                table, _ = await session.load(refresh=True)
                rss_loaded = memory.start()

            async def edit(tag: str = f"bench-tag-{run_number}") -> None:
                await run_to_end(session, await session.plan(ids, TagEdit.build("add", [tag])))

            await measured_run(log, slowlog, memory, edit)
            log.baseline.append(await baseline(client, ids))
        options.log = log
        longest_ms, slowest = log.longest_call()
        over = [(call.ms, call.head(60)) for call in log.calls if call.ms > 8]
        return {
            **log.rates(len(ids)),
            "longest_call_ms": longest_ms, "slowest": slowest, "added_mb": log.added_mb,
            "rss_loaded_mb": rss_loaded, "calls_over_8ms": over, "runs": repeats,
            "keyops_runs_s": log.keyops, "baseline_runs_s": log.baseline,
            # Each keyops run is paired with the baseline run right after it (same conditions).
            "paired_ratio_median": statistics.median(k / b for k, b in zip(log.keyops, log.baseline, strict=True)),
        }  # fmt: skip


def line(r: dict[str, Any]) -> str:
    return (
        f"{r['keys']:>7} keys (median of {r['runs']}): keyops {r['keyops_s']:.2f} s ({r['keyops_keys_per_s']:,.0f} keys/s), "
        f"baseline HSET {r['baseline_s']:.2f} s ({r['baseline_keys_per_s']:,.0f} keys/s), "
        f"ratio {r['ratio']:.2f}x (paired runs: median {r['paired_ratio_median']:.2f}x), longest Redis call {r['longest_call_ms']:.1f} ms, "
        f"memory added {r['added_mb']:.0f} MB over a {r['rss_loaded_mb']:.0f} MB loaded list"
    )


def main() -> None:
    run_sizes(size_parser(__doc__, "1000,10000,100000").parse_args(), measure, line)


if __name__ == "__main__":
    main()
