"""Keys create of 10k keys end to end, against a plain pipelined write of the same keys.

    ./dev bench keys_create [--sizes 10000] [--runs 3]

A fresh redis-server on loopback holding 1,000 seeded CRS keys. Then:
- keyops: `keys create` of N keys as the CLI runs it: N secrets from the CSPRNG and their
  hashes, the 0600 file written and fsynced, then one script call per chunk (refuse an id or
  hash already there, hash_map entry, record + EXPIRE, cost ranks, indexes, the chunk's audit
  entry); timed end to end;
- baseline: the same records and index writes pipelined 1,000 keys a round trip with nothing
  else (no file, no existence check, no audit; secrets made beforehand, untimed);
- the longest single Redis call during the keyops runs (SLOWLOG);
- memory the run adds (peak RSS minus RSS before it).
Between runs the database is flushed and seeded again, untimed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bench.batch_tags import reset_peak, rss_mb
from keyops.core.api import KeyopsSession
from keyops.core.edits.create import KeysCreate, record_fields
from keyops.core.schema.api_secret import KeyMinter
from keyops.core.seeding.writer import seed_dataset
from keyops.core.settings import SecretStr
from keyops.core.store.create import CREATE_CHUNK
from tests.support.redis_server import start_redis_server

MINTER = KeyMinter(SecretStr("bench-encryption-key"))
RANKS = ("cost_rank:today", "cost_rank:7days", "cost_rank:30days", "cost_rank:all")


async def baseline(client: aioredis.Redis, request: KeysCreate) -> float:
    now = datetime.now(UTC)
    keys = [(str(uuid.uuid4()), request.name_of(i + 1), MINTER.digest(MINTER.new_raw()))
            for i in range(request.count)]  # fmt: skip
    ms = int(now.timestamp() * 1000)
    start = time.perf_counter()
    for offset in range(0, len(keys), 1000):
        pipe = client.pipeline(transaction=False)
        for key_id, name, digest in keys[offset : offset + 1000]:
            pipe.hset("apikey:hash_map", digest, key_id)
            pipe.hset(f"apikey:{key_id}", mapping=record_fields(request, key_id, name, digest, now))
            pipe.expire(f"apikey:{key_id}", 31_536_000)
            for rank in RANKS:
                pipe.zadd(rank, {key_id: 0})
            pipe.zadd("apikey:idx:createdAt", {key_id: ms})
            pipe.zadd("apikey:idx:lastUsedAt", {key_id: 0})
            pipe.zadd("apikey:idx:name", {f"{name.lower()}\0{key_id}": 0})
            pipe.sadd("apikey:idx:all", key_id)
            pipe.sadd("apikey:set:active", key_id)
            pipe.srem("apikey:set:deleted", key_id)
            for tag in request.tags:
                pipe.sadd(f"apikey:tag:{tag}", key_id)
                pipe.sadd("apikey:tags:all", tag)
        await pipe.execute()
    return time.perf_counter() - start


async def measure(size: int, repeats: int) -> dict[str, Any]:
    server = start_redis_server()
    request = KeysCreate.build(size, "bench", tags=["bench-made"], limits={"concurrency": "2"})
    try:
        client = aioredis.from_url(server.url, decode_responses=True)
        session = KeyopsSession.from_client(client, server.url)
        runs, base_runs, longest_ms, peak_added = [], [], 0.0, 0.0
        slowest: object = b""
        script_ms: list[float] = []
        with tempfile.TemporaryDirectory() as folder:
            for run in range(repeats):
                await client.flushall()
                await seed_dataset(client, 1000)
                gc.collect()
                before = rss_mb()[0]
                reset_peak()
                await client.slowlog_reset()
                start = time.perf_counter()
                outcome = await session.create_keys(request, MINTER, Path(folder) / f"k{run}.tsv")
                runs.append(time.perf_counter() - start)
                assert outcome.done == size, outcome
                peak_added = max(peak_added, rss_mb()[1] - before)
                for entry in await client.slowlog_get(1024):
                    if str(entry["command"]).startswith("b'SLOWLOG"):
                        continue  # the reset itself, before the run
                    if str(entry["command"]).startswith("b'EVALSHA"):
                        script_ms.append(entry["duration"] / 1000)
                    if entry["duration"] / 1000 > longest_ms:
                        longest_ms, slowest = entry["duration"] / 1000, entry["command"][:40]
                await client.flushall()
                await seed_dataset(client, 1000)
                base_runs.append(await baseline(client, request))
        await client.aclose()
        elapsed, base = statistics.median(runs), statistics.median(base_runs)
        return {
            "keys": size, "keyops_s": elapsed, "keyops_keys_per_s": size / elapsed,
            "baseline_s": base, "baseline_keys_per_s": size / base, "ratio": elapsed / base,
            "longest_call_ms": longest_ms, "slowest": str(slowest), "added_mb": peak_added,
            "runs": repeats, "chunk": CREATE_CHUNK,
            "script_calls_over_1ms": len(script_ms),
            "script_calls_over_10ms": sum(1 for ms in script_ms if ms > 10),
            "longest_script_ms": max(script_ms, default=0.0),
            "script_median_over_1ms": statistics.median(script_ms) if script_ms else 0.0,
            "keyops_runs_s": runs, "baseline_runs_s": base_runs,
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
            f"({r['keyops_keys_per_s']:,.0f} keys/s), baseline pipelined create writes "
            f"{r['baseline_s']:.2f} s ({r['baseline_keys_per_s']:,.0f} keys/s), ratio "
            f"{r['ratio']:.2f}x, longest Redis call {r['longest_call_ms']:.1f} ms, memory added "
            f"{r['added_mb']:.0f} MB; {r['script_calls_over_10ms']} script calls "
            f"({r['chunk']} keys each) over 10 ms",
            flush=True,
        )
        print("  " + json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
