"""Usage for 100,000 keys: load time and memory on top of the key list, and `keys top` end to end.

    ./dev bench usage_100k [--keys 100000] [--runs 3]

Seeds N CRS-shaped keys with keyops's seeder, and for every one of them today's usage shaped
like what CRS writes (core/seeding/usage.py: request/token hashes, per-model hash, cost
strings, weekly Claude cost, day indexes; every 50th key an open window, every 200th a lease),
into a fresh redis-server on a loopback port. Then, in a fresh Python process per run: load
the key list, then time `session.usage()` for every key and read the RSS it added; time a
second read (a refresh). Then time `keyops keys top --by cost.today` as a subprocess, start to
exit. Then the console (`--console-runs`, a fresh process each, the real app headless at 80x24):
from the list usable to usage on screen (the background read after the first paint), a live
refresh of every key's usage with the longest the event loop was held meanwhile, and the RSS
usage added. Targets: usage loaded in <= 2 s on top of the key list, memory added <= 60 MB, a
refresh <= 2 s without a stall over 50 ms, `keys top` <= 3 s end to end. The load average is
printed beside the numbers: other processes on the machine inflate every wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time

import redis.asyncio as aioredis

from keyops.core.seeding.usage import seed_usage
from keyops.core.seeding.writer import seed_dataset
from tests.support.redis_server import start_redis_server

CHILD = r"""
import asyncio, gc, json, sys, time

def rss_mb():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024

from keyops.core.api import KeyopsSession
from keyops.core.settings import resolve_settings

async def redis_cpu(session):
    info = await session.clients.read.info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]

async def main():
    session = await KeyopsSession.open(resolve_settings(sys.argv[1]))
    start, cpu, server = time.perf_counter(), time.process_time(), await redis_cpu(session)
    table, _ = await session.load()
    keys_seconds = time.perf_counter() - start
    keys_cpu, keys_redis = time.process_time() - cpu, await redis_cpu(session) - server
    gc.collect()
    before, before_peak = rss_mb()
    start, cpu, server = time.perf_counter(), time.process_time(), await redis_cpu(session)
    usage = await session.usage()
    usage_seconds = time.perf_counter() - start
    usage_cpu, usage_redis = time.process_time() - cpu, await redis_cpu(session) - server
    gc.collect()
    after, after_peak = rss_mb()
    start = time.perf_counter()
    await session.usage()
    refresh_seconds = time.perf_counter() - start
    await session.aclose()
    print(json.dumps({"keys": len(table), "with_usage": len(usage.by_id),
                      "keys_seconds": keys_seconds, "usage_seconds": usage_seconds,
                      "refresh_seconds": refresh_seconds, "added_mb": after - before,
                      "keys_cpu": keys_cpu, "keys_redis_cpu": keys_redis,
                      "usage_cpu": usage_cpu, "usage_redis_cpu": usage_redis,
                      "added_peak_mb": after_peak - before_peak}))

asyncio.run(main())
"""


CONSOLE = r"""
import asyncio, gc, json, sys, time

def rss_mb():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return int(fields["VmRSS"].split()[0]) / 1024

from keyops.core.settings import resolve_settings
from keyops.tui.app import make_redis_app
from keyops.tui.config import UiConfig

class LoopWatch:
    # The longest the event loop went without running this task: what a key pressed then
    # would have waited (wall), and the CPU this process spent in that gap (the work that held
    # the loop, without the time a loaded machine kept the process off a core).
    def __init__(self):
        self.worst, self.worst_cpu, self.running = 0.0, 0.0, True
    def reset(self):
        self.worst = self.worst_cpu = 0.0
    async def run(self):
        while self.running:
            before, cpu = time.perf_counter(), time.process_time()
            await asyncio.sleep(0.001)
            self.worst = max(self.worst, time.perf_counter() - before - 0.001)
            self.worst_cpu = max(self.worst_cpu, time.process_time() - cpu)

class GcWatch:
    # The longest garbage collection pause, and how many full (generation 2) collections ran.
    def __init__(self):
        self.started, self.worst, self.full = 0.0, 0.0, 0
        gc.callbacks.append(self.callback)
    def reset(self):
        self.worst, self.full = 0.0, 0
    def callback(self, phase, info):
        if phase == "start":
            self.started = time.perf_counter()
        else:
            self.worst = max(self.worst, time.perf_counter() - self.started)
            self.full += info["generation"] == 2

async def wait_until(check, timeout=300):
    deadline = time.perf_counter() + timeout
    while not check():
        if time.perf_counter() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.002)

async def main():
    result = {}
    # No timer lands mid-measurement: the bench starts the usage refresh itself.
    config = UiConfig(refresh_rows_seconds=3600, refresh_list_seconds=3600,
                      refresh_usage_seconds=3600)
    app = make_redis_app(resolve_settings(sys.argv[1]), config=config)
    async with app.run_test(size=(80, 24)) as pilot:
        status = lambda: str(app.screen.query_one("#status-line").render())
        await wait_until(lambda: "shown of" in status())
        usable = time.perf_counter()
        live = app.data.live
        gc.collect()
        before = rss_mb()  # the list is in; the usage read has just been started
        watch, collections = LoopWatch(), GcWatch()
        watcher = asyncio.create_task(watch.run())
        await wait_until(lambda: live.loaded)
        result["usage_after_list_s"] = time.perf_counter() - usable
        result["load_worst_stall_ms"] = watch.worst * 1000
        result["load_worst_stall_cpu_ms"] = watch.worst_cpu * 1000
        await pilot.pause()
        gc.collect()
        result["added_mb"] = rss_mb() - before
        refresh_s, stalls, cpu_stalls, gc_ms = [], [], [], []
        for _ in range(3):
            await asyncio.sleep(0.3)
            watch.reset()
            collections.reset()
            reads = live.reads
            start = time.perf_counter()
            app.screen.refresh_usage()
            await wait_until(lambda: live.reads > reads and not live.reading)
            await pilot.pause()
            refresh_s.append(time.perf_counter() - start)
            stalls.append(watch.worst * 1000)
            cpu_stalls.append(watch.worst_cpu * 1000)
            gc_ms.append(f"{collections.worst * 1000:.0f} ms ({collections.full} full)")
        watch.running = False
        await watcher
        result["refresh_s"] = refresh_s
        result["refresh_worst_stall_ms"] = stalls
        result["refresh_worst_stall_cpu_ms"] = cpu_stalls
        result["refresh_gc"] = gc_ms
        result["with_usage"] = len(live.table.by_id)
    print(json.dumps(result))

asyncio.run(main())
"""


async def seed(url: str, keys: int) -> tuple[float, float]:
    client = aioredis.from_url(url, decode_responses=True)
    start = time.perf_counter()
    await seed_dataset(client, keys)
    keys_seconds = time.perf_counter() - start
    ids = [name.split(":", 1)[1] async for name in client.scan_iter("apikey:*", count=5000)
           if name.count(":") == 1 and not name.startswith(("apikey:hash_map", "apikey:idx"))]  # fmt: skip
    start = time.perf_counter()
    await seed_usage(client, ids, now=time.time())
    usage_seconds = time.perf_counter() - start
    await client.aclose()
    return keys_seconds, usage_seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--console-runs", type=int, default=2)
    parser.add_argument(
        "--console-only", action="store_true", help="skip the session and keys top runs"
    )
    args = parser.parse_args()

    server = start_redis_server()
    try:
        keys_s, usage_s = asyncio.run(seed(server.url, args.keys))
        print(f"seeded {args.keys} keys in {keys_s:.1f} s and their usage in {usage_s:.1f} s")
        print(f"load average {os.getloadavg()[0]:.1f} (1 min), {os.getloadavg()[1]:.1f} (5 min)")
        for _ in range(args.console_runs):
            load = os.getloadavg()[0]
            out = subprocess.run(
                [sys.executable, "-c", CONSOLE, server.url],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            c = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"  console: usage of {c['with_usage']} keys on screen "
                f"{c['usage_after_list_s']:.2f} s after the list was usable (longest loop stall "
                f"{c['load_worst_stall_ms']:.0f} ms wall, {c['load_worst_stall_cpu_ms']:.0f} ms "
                f"CPU), RSS added {c['added_mb']:.0f} MB\n    live refresh of all of it "
                f"{', '.join(f'{x:.2f}' for x in c['refresh_s'])} s, longest stall "
                f"{', '.join(f'{x:.0f}' for x in c['refresh_worst_stall_ms'])} ms wall, "
                f"{', '.join(f'{x:.0f}' for x in c['refresh_worst_stall_cpu_ms'])} ms CPU; "
                f"longest GC pause {', '.join(c['refresh_gc'])}"
                f" (load average {load:.1f} -> {os.getloadavg()[0]:.1f})"
            )
        if args.console_only:
            return
        runs = []
        for _ in range(args.runs):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, server.url],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            runs.append(json.loads(out.stdout))
            r = runs[-1]
            print(
                f"  key list {r['keys']} keys in {r['keys_seconds']:.2f} s; usage of "
                f"{r['with_usage']} keys in {r['usage_seconds']:.2f} s (refresh "
                f"{r['refresh_seconds']:.2f} s), RSS added {r['added_mb']:.0f} MB "
                f"(peak added {r['added_peak_mb']:.0f} MB)\n"
                f"    CPU: key list {r['keys_cpu']:.2f} s Python + {r['keys_redis_cpu']:.2f} s "
                f"Redis; usage {r['usage_cpu']:.2f} s Python + {r['usage_redis_cpu']:.2f} s Redis"
            )
        tops, top_cpu = [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            before = os.times()
            subprocess.run(
                [sys.executable, "-m", "keyops", "keys", "top", "--by", "cost.today",
                 "--redis-url", server.url],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            tops.append(time.perf_counter() - start)
            after = os.times()
            top_cpu.append(after.children_user + after.children_system
                           - before.children_user - before.children_system)  # fmt: skip
            print(
                f"  keyops keys top --by cost.today: {tops[-1]:.2f} s end to end "
                f"({top_cpu[-1]:.2f} s CPU in the keyops process)"
            )
        median = statistics.median
        print(
            f"median of {args.runs}: usage {median(r['usage_seconds'] for r in runs):.2f} s "
            f"on top of the key list (target <= 2 s), refresh "
            f"{median(r['refresh_seconds'] for r in runs):.2f} s (target <= 2 s), RSS added "
            f"{median(r['added_mb'] for r in runs):.0f} MB (target <= 60 MB), keys top "
            f"{median(tops):.2f} s (target <= 3 s)"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
