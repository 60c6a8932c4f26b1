"""How long CRS's whole-hash rewrite window lasts: from its read of a key to its write back.

    ./dev bench crs_rewrite_window [--samples 3000]

Why it matters: CRS rewrites a key's whole hash on every request it serves (recordUsage reads
the hash with HGETALL, sets lastUsedAt, writes every field back with HSET and EXPIRE; the first
use of an activation key does the same). Between the read and the write there is only
JavaScript, no network call. A rewrite whose read came before keyops wrote the key and whose
write lands after puts the old values back. keyops's verify re-reads each key `verify_delay`
after writing it (core/batch/runner.py), so that delay must outlast the longest window.

What it measures: a client doing exactly that read-modify-write against a real redis-server on
loopback, the window taken from sending HGETALL to the HSET's reply (an upper bound of the
server-side window: it adds a round trip). The client is Python asyncio with redis-py, slower
per command than Node with ioredis, so the numbers err on the long side. Scenarios: one rewrite
at a time; 64 and 256 concurrent rewriters with no pause (the client's event loop saturated, as
a busy relay's is); and 64 again while two processes keep both cores busy (a loaded host).
Percentiles and the maximum are printed and added to bench/results/crs_rewrite_window.txt.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import redis.asyncio as aioredis

from keyops.core.batch.runner import RunnerSettings
from keyops.core.seeding.writer import seed_dataset
from tests.support.redis_server import start_redis_server

RESULTS = Path(__file__).parent / "results" / "crs_rewrite_window.txt"
NODE_SCRIPT = Path(__file__).with_suffix(".js")
KEYS = 2000
YEAR_SECONDS = 31_536_000

# (name, concurrent rewriters, rewrites per second in all or None for flat out, busy processes)
SCENARIOS: tuple[tuple[str, int, float | None, int], ...] = (
    ("one at a time", 1, None, 0),
    ("100/s, 16 concurrent", 16, 100.0, 0),
    ("300/s, 32 concurrent", 32, 300.0, 0),
    ("100/s, 16 concurrent, cores busy", 16, 100.0, 2),
    ("flat out, 64 concurrent", 64, None, 0),
)


async def rewrite(client: aioredis.Redis, key: str) -> float:
    """One CRS-style rewrite of `key`; returns its read-to-write window in seconds."""
    started = time.perf_counter()
    fields = cast(dict[str, str], await client.hgetall(key))
    fields["lastUsedAt"] = datetime.now(UTC).isoformat(timespec="milliseconds")
    await client.hset(key, mapping=fields)
    window = time.perf_counter() - started
    await client.expire(key, YEAR_SECONDS)
    return window


async def scenario(url: str, workers: int, rate: float | None, samples: int) -> list[float]:
    """`samples` rewrites by `workers` concurrent rewriters, at `rate` a second in all (None:
    each as fast as it goes)."""
    client = aioredis.from_url(url, decode_responses=True, max_connections=workers + 4)
    ids = [str(i) for i in await client.smembers("apikey:idx:all")]
    windows: list[float] = []
    per_worker = max(1, samples // workers)
    interval = workers / rate if rate else 0.0

    async def worker(offset: int) -> None:
        next_at = time.monotonic() + random.random() * interval
        for step in range(per_worker):
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at += interval
            key = f"apikey:{ids[(offset * per_worker + step) % len(ids)]}"
            windows.append(await rewrite(client, key))

    await asyncio.gather(*(worker(n) for n in range(workers)))
    await client.aclose()
    return windows


def node_windows(
    node: str, port: int, workers: int, rate: float | None, samples: int
) -> list[float]:
    """The same rewrites done by Node (bench/crs_rewrite_window.js), in seconds."""
    out = subprocess.run(
        [node, str(NODE_SCRIPT), str(port), str(samples), str(workers), str(rate or 0)],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    return [ms / 1000 for ms in json.loads(out.stdout)]


def burn(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pass


def summary(name: str, windows: list[float]) -> str:
    ordered = sorted(windows)

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000

    return (
        f"{name:<44} n={len(ordered):>5}  median {statistics.median(ordered) * 1000:6.2f} ms  "
        f"p99 {at(0.99):6.2f} ms  p99.9 {at(0.999):6.2f} ms  max {ordered[-1] * 1000:6.2f} ms"
    )


async def seed(url: str) -> None:
    client = aioredis.from_url(url, decode_responses=True)
    await seed_dataset(client, KEYS)
    await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=3000, help="rewrites per scenario")
    parser.add_argument("--no-save", action="store_true", help="print only")
    args = parser.parse_args()

    node = shutil.which("node")
    server = start_redis_server()
    lines: list[str] = [
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start"
        + ("" if node else "; node not found: Python client only")
    ]
    try:
        asyncio.run(seed(server.url))
        for name, workers, rate, hogs in SCENARIOS:
            burners = [multiprocessing.Process(target=burn, args=(300.0,)) for _ in range(hogs)]
            for process in burners:
                process.start()
            try:
                if node:
                    windows = node_windows(node, server.port, workers, rate, args.samples)
                    lines.append(summary(f"node    {name}", windows))
                    print(lines[-1], flush=True)
                windows = asyncio.run(scenario(server.url, workers, rate, args.samples))
                lines.append(summary(f"python  {name}", windows))
                print(lines[-1], flush=True)
            finally:
                for process in burners:
                    process.terminate()
                    process.join()
    finally:
        server.stop()
    lines.append(
        f"keyops verify_delay: {RunnerSettings().verify_delay * 1000:.0f} ms (core/batch/runner.py)"
    )
    print(lines[-1])
    if not args.no_save:  # runs accumulate: the tail differs from run to run
        earlier = RESULTS.read_text() + "\n" if RESULTS.exists() else ""
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        RESULTS.write_text(earlier + f"## run at {stamp}\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
