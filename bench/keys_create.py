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

import statistics
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bench.support.harness import (
    PeakMemory,
    RunLog,
    RunOptions,
    longest,
    measured_run,
    run_sizes,
    seeded_redis,
    size_parser,
    timed,
)
from keyops.core.api import KeyopsSession
from keyops.core.edits.create import KeysCreate, record_fields
from keyops.core.schema.api_secret import KeyMinter
from keyops.core.seeding.writer import seed_dataset
from keyops.core.settings import SecretStr
from keyops.core.store.create import CREATE_CHUNK

MINTER = KeyMinter(SecretStr("bench-encryption-key"))
RANKS = ("cost_rank:today", "cost_rank:7days", "cost_rank:30days", "cost_rank:all")
SEEDED = 1000  # keys already there when a run starts


async def baseline(client: aioredis.Redis, request: KeysCreate) -> float:
    now = datetime.now(UTC)
    keys = [(str(uuid.uuid4()), request.name_of(i + 1), MINTER.digest(MINTER.new_raw()))
            for i in range(request.count)]  # fmt: skip
    ms = int(now.timestamp() * 1000)

    async def write() -> None:
        for offset in range(0, len(keys), 1000):
            pipe = client.pipeline(transaction=False)
            for key_id, name, digest in keys[offset : offset + 1000]:
                pipe.hset("apikey:hash_map", digest, key_id)
                pipe.hset(
                    f"apikey:{key_id}", mapping=record_fields(request, key_id, name, digest, now)
                )
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

    return (await timed(write))[0]


async def fresh(client: aioredis.Redis) -> None:
    await client.flushall()
    await seed_dataset(client, SEEDED)


async def measure(size: int, repeats: int, options: RunOptions) -> dict[str, Any]:
    request = KeysCreate.build(size, "bench", tags=["bench-made"], limits={"concurrency": "2"})
    async with seeded_redis(0, options.redis_nice) as (server, client):
        session = KeyopsSession.from_client(client, server.url)
        log, memory, slowlog = RunLog(), PeakMemory(), options.slowlog(client)
        with tempfile.TemporaryDirectory() as folder:
            for run in range(repeats):
                await fresh(client)
                memory.start()

                async def create(out: Path = Path(folder) / f"k{run}.tsv") -> None:
                    outcome = await session.create_keys(request, MINTER, out)
                    assert outcome.done == size, outcome

                await measured_run(log, slowlog, memory, create)
                await fresh(client)
                log.baseline.append(await baseline(client, request))
        options.log = log
        slowest = longest(log.calls)
        # Script calls over 1 ms (the server's usual SLOWLOG threshold), whatever --slowlog-us.
        script_ms = [ms for ms in log.script_ms() if ms >= 1]
        return {
            **log.rates(size),
            "longest_call_ms": slowest.ms if slowest else 0.0,
            "slowest": slowest.head(40) if slowest else str(b""), "added_mb": log.added_mb,
            "runs": repeats, "chunk": CREATE_CHUNK,
            "script_calls_over_1ms": len(script_ms),
            "script_calls_over_10ms": sum(1 for ms in script_ms if ms > 10),
            "longest_script_ms": max(log.script_ms(), default=0.0),
            "script_median_over_1ms": statistics.median(script_ms) if script_ms else 0.0,
            "keyops_runs_s": log.keyops, "baseline_runs_s": log.baseline,
        }  # fmt: skip


def line(r: dict[str, Any]) -> str:
    return (
        f"{r['keys']:>7} keys (median of {r['runs']}): keyops {r['keyops_s']:.2f} s "
        f"({r['keyops_keys_per_s']:,.0f} keys/s), baseline pipelined create writes "
        f"{r['baseline_s']:.2f} s ({r['baseline_keys_per_s']:,.0f} keys/s), ratio "
        f"{r['ratio']:.2f}x, longest Redis call {r['longest_call_ms']:.1f} ms, memory added "
        f"{r['added_mb']:.0f} MB; {r['script_calls_over_10ms']} script calls "
        f"({r['chunk']} keys each) over 10 ms"
    )


def main() -> None:
    run_sizes(size_parser(__doc__, "10000").parse_args(), measure, line)


if __name__ == "__main__":
    main()
