"""A 100,000-key tag batch while a CRS-like writer rewrites whole hashes (nothing may be lost).

Issue 5's load test: a 100,000-key tag batch while a CRS-like writer rewrites whole hashes
of random keys at about 2,000 rewrites per second (bench/crs_writer.py, its own process).

    ./dev bench load_with_crs [--keys 100000] [--rate 2000] [--runs 1]

Reports: the batch's duration and outcome, how many keys verify found rewritten and re-applied,
keys left without the change afterwards (read back from Redis: the target is 0), the longest
single Redis call keyops made (SLOWLOG, keyops's commands only: the target is at most 10 ms),
and the writer's achieved rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any, cast

import redis.asyncio as aioredis

from bench.support.harness import seed
from keyops.core.api import KeyopsSession, TagEdit
from tests.support.redis_server import start_redis_server

KEYOPS_COMMANDS = {
    "EVALSHA",
    "EVAL",
    "HMGET",
    "SSCAN",
    "SCAN",
    "SCRIPT",
    "HSCAN",
    "XADD",
    "SADD",
    "ZADD",
    "MULTI",
    "EXEC",
}


async def run_once(url: str, rate: float, tag: str) -> dict[str, Any]:
    client = aioredis.from_url(url, decode_responses=True)
    session = KeyopsSession.from_client(client, url)
    service = session
    table, _ = await service.load()
    ids = [row.id for row in table if not row.is_deleted]
    plan = await service.plan(ids, TagEdit.build("add", [tag]))
    await client.slowlog_reset()
    writer = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.crs_writer", url, str(rate), "30",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await asyncio.sleep(1.0)  # the writer is at full rate before the batch starts
    start = time.perf_counter()
    outcome = None
    async for event in service.run(plan):
        outcome = event.outcome or outcome
    elapsed = time.perf_counter() - start
    slow = await client.slowlog_get(1024)
    writer.terminate()
    out = (await writer.communicate())[0].decode()
    assert outcome is not None
    pipe = client.pipeline(transaction=False)
    for key_id in ids:
        pipe.hget(f"apikey:{key_id}", "tags")
    missing = sum(
        1 for raw in await pipe.execute() if tag not in json.loads(cast(str, raw) or "[]")
    )

    def command_of(entry: dict[str, Any]) -> str:
        raw = entry["command"]
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        return text.split(" ", 1)[0].upper()

    # The writer's own HGETALL/HSET calls are not keyops's (its HSETs are one key each).
    ours = [
        entry
        for entry in slow
        if command_of(entry) in KEYOPS_COMMANDS and command_of(entry) != "HSET"
    ]
    longest = max(ours, key=lambda entry: entry["duration"], default=None)
    await client.aclose()
    return {
        "keys": len(ids), "seconds": round(elapsed, 2), "status": outcome.status.value,
        "applied": outcome.counts.applied, "reapplied": outcome.counts.reapplied,
        "drifting": outcome.counts.drifting, "missing_after": missing,
        "longest_keyops_call_ms": round(longest["duration"] / 1000, 2) if longest else 0.0,
        "longest_call": str(longest["command"])[:70] if longest else "",
        "writer": out.strip(),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    server = start_redis_server()
    try:
        asyncio.run(seed(server.url, args.keys))
        print(f"seeded {args.keys} keys; CRS-like writer at {args.rate:g} whole-hash rewrites/s")
        for run in range(args.runs):
            print(
                json.dumps(asyncio.run(run_once(server.url, args.rate, f"load-{run}"))), flush=True
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
