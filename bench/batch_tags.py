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

import argparse
import asyncio
import gc
import json
import statistics
import time
from typing import Any

import redis.asyncio as aioredis

from keyops.core.api import KeyopsSession, TagEdit
from keyops.core.schema.encoding import now_iso
from keyops.core.seeding.writer import seed_dataset
from tests.support.redis_server import start_redis_server


def rss_mb() -> tuple[float, float]:
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def reset_peak() -> None:
    # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux).
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


async def baseline(client: aioredis.Redis, ids: list[str]) -> float:
    start = time.perf_counter()
    stamp = now_iso()
    for offset in range(0, len(ids), 1000):
        pipe = client.pipeline(transaction=False)
        for key_id in ids[offset : offset + 1000]:
            pipe.hset(f"apikey:{key_id}", mapping={"tags": '["baseline"]', "updatedAt": stamp})
        await pipe.execute()
    return time.perf_counter() - start


async def measure(size: int, repeats: int) -> dict[str, Any]:
    server = start_redis_server()
    try:
        client = aioredis.from_url(server.url, decode_responses=True)
        await seed_dataset(client, size)
        session = KeyopsSession.from_client(client, server.url)
        service = session
        table, _ = await service.load()
        ids = [row.id for row in table if not row.is_deleted]
        gc.collect()
        rss_loaded, _ = rss_mb()
        elapsed_runs, base_runs, longest_ms, peak_added, over = [], [], 0.0, 0.0, []
        slowest: object = b""
        for run_number in range(repeats):
            # keyops and the baseline alternate, so both see the same machine conditions. The
            # key list is loaded again first (untimed), as the CLI does for every command: the
            # baseline has just rewritten every key's tags.
            if run_number:
                table, _ = await service.load(refresh=True)
                gc.collect()
                rss_loaded = rss_mb()[0]
            reset_peak()
            await client.slowlog_reset()
            start = time.perf_counter()
            plan = await service.plan(ids, TagEdit.build("add", [f"bench-tag-{run_number}"]))
            outcome = None
            async for event in service.run(plan):
                outcome = event.outcome or outcome
            elapsed_runs.append(time.perf_counter() - start)
            _, peak = rss_mb()
            peak_added = max(peak_added, peak - rss_loaded)
            assert outcome is not None and outcome.status.value == "done", outcome
            slow = await client.slowlog_get(1024)
            if slow:
                worst = max(slow, key=lambda e: e["duration"])
                if worst["duration"] / 1000 > longest_ms:
                    longest_ms, slowest = worst["duration"] / 1000, worst["command"][:60]
                over += [
                    (e["duration"] / 1000, str(e["command"][:60]))
                    for e in slow
                    if e["duration"] > 8000
                ]
            del plan, outcome  # the next run's peak must not include this run's plan
            gc.collect()
            base_runs.append(await baseline(client, ids))
        elapsed, base = statistics.median(elapsed_runs), statistics.median(base_runs)
        await client.aclose()
        return {
            "keys": len(ids), "keyops_s": elapsed, "keyops_keys_per_s": len(ids) / elapsed,
            "baseline_s": base, "baseline_keys_per_s": len(ids) / base, "ratio": elapsed / base,
            "longest_call_ms": longest_ms, "slowest": str(slowest), "added_mb": peak_added,
            "rss_loaded_mb": rss_loaded, "calls_over_8ms": over, "runs": repeats,
            "keyops_runs_s": elapsed_runs, "baseline_runs_s": base_runs,
            # Each keyops run is paired with the baseline run right after it (same conditions).
            "paired_ratio_median": statistics.median(k / b for k, b in zip(elapsed_runs, base_runs, strict=True)),
        }  # fmt: skip
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--runs", type=int, default=3, help="runs per size; medians are reported")
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        r = asyncio.run(measure(size, args.runs))
        print(
            f"{r['keys']:>7} keys (median of {r['runs']}): keyops {r['keyops_s']:.2f} s ({r['keyops_keys_per_s']:,.0f} keys/s), "
            f"baseline HSET {r['baseline_s']:.2f} s ({r['baseline_keys_per_s']:,.0f} keys/s), "
            f"ratio {r['ratio']:.2f}x (paired runs: median {r['paired_ratio_median']:.2f}x), longest Redis call {r['longest_call_ms']:.1f} ms, "
            f"memory added {r['added_mb']:.0f} MB over a {r['rss_loaded_mb']:.0f} MB loaded list",
            flush=True,
        )
        print("  " + json.dumps(r))


if __name__ == "__main__":
    main()
