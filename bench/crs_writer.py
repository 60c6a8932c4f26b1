"""A CRS-like writer: what the relay does to keys while keyops edits them.

    python -m bench.crs_writer REDIS_URL RATE SECONDS

CRS rewrites a key's whole hash on every request it serves: it reads the hash, handles the
request, and writes every field back (updating lastUsedAt). A rewrite based on a read taken
before keyops wrote puts the old values back, which keyops's verify must find and re-apply.
This process does that to random keys at RATE rewrites per second, with a read-to-write delay
like a request's, and prints how many it did.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sys
import time
from datetime import UTC, datetime
from typing import cast

import redis.asyncio as aioredis

WORKERS = 64
REQUEST_SECONDS = (0.005, 0.05)  # read-to-write time of a request


async def main(url: str, rate: float, seconds: float) -> None:
    client = aioredis.from_url(url, decode_responses=True, max_connections=WORKERS + 4)
    ids = cast(list[str], list(await client.smembers("apikey:idx:all")))
    deadline = time.monotonic() + seconds
    done = 0
    stop = asyncio.Event()
    # SIGTERM ends the run cleanly, so the count is still printed.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    interval = WORKERS / rate  # each worker's share of the rate

    async def worker() -> None:
        nonlocal done
        next_at = time.monotonic() + random.random() * interval
        while time.monotonic() < deadline and not stop.is_set():
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at += interval
            key = f"apikey:{random.choice(ids)}"
            fields = cast(dict[str, str], await client.hgetall(key))
            if not fields:
                continue
            await asyncio.sleep(random.uniform(*REQUEST_SECONDS))
            fields["lastUsedAt"] = (
                datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            )
            await client.hset(key, mapping=fields)
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(WORKERS)))
    elapsed = time.monotonic() - started
    await client.aclose()
    print(json.dumps({"rewrites": done, "seconds": elapsed, "per_second": done / elapsed}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3])))
