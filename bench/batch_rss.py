"""Console RSS after three 100,000-key batches in one console (issue 12: at most 250 MB).

    ./dev bench batch_rss [--keys 100000] [--batches 3]

Seeds N keys into a fresh redis-server on loopback with keyops's seeder, then drives the real
app headless (`App.run_test`) in a fresh Python process, as an operator would: mark every key,
`t` + a tag + ctrl+s, type the count on the confirm, wait for the summary, enter back to the
key list and wait for its reload. After each batch it reports the process's RSS (and the
peak), and what Python's allocator holds (tracemalloc is off: it would change the numbers),
so memory that stays from one batch to the next shows as a rising line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time

import redis.asyncio as aioredis

from keyops.core.seeding.writer import seed_dataset
from tests.support.redis_server import start_redis_server

TARGET_MB = 250.0

CHILD = r"""
import asyncio, gc, json, sys, time
from keyops.core.settings import resolve_settings
from keyops.tui.app import make_redis_app
from keyops.tui.config import UiConfig

def rss_mb():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024

async def wait_until(check, timeout=300):
    deadline = time.perf_counter() + timeout
    while not check():
        if time.perf_counter() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.01)

async def main():
    batches = int(sys.argv[2])
    app = make_redis_app(resolve_settings(sys.argv[1]), config=UiConfig(confirm_typed_above=500))
    report = []
    async with app.run_test(size=(80, 24)) as pilot:
        status = lambda: str(app.screen.query_one("#status-line").render())
        listed = lambda: type(app.screen).__name__ == "KeyListScreen" and "shown of" in status() and "filtering" not in status()
        await wait_until(listed)
        await pilot.pause()
        rss, peak = rss_mb()
        report.append({"after": "listed", "rss_mb": round(rss, 1), "peak_rss_mb": round(peak, 1),
                       "gc_objects": len(gc.get_objects())})
        for batch in range(1, batches + 1):
            await pilot.press("asterisk")
            view = app.screen.query_one("#keys")
            await wait_until(lambda: status().startswith(f"{len(view.rows)} marked"))
            await pilot.press("t", *f"rss-{batch}")
            await wait_until(lambda: "unchanged" in str(app.screen.query_one("#preview-counts").render()))
            await pilot.press("ctrl+s")
            await wait_until(lambda: type(app.screen).__name__ == "BatchConfirmScreen")
            count = len(app.screen.plan.plans)
            await pilot.press(*str(count), "enter")
            await wait_until(lambda: type(app.screen).__name__ == "ProgressScreen")
            progress = app.screen
            started = time.perf_counter()
            await wait_until(lambda: progress.outcome is not None)
            seconds = time.perf_counter() - started
            outcome = progress.outcome
            await pilot.press("enter")
            await wait_until(listed)
            await pilot.pause(0.5)  # the reload after the batch has settled
            rss, peak = rss_mb()
            report.append({"after": f"batch {batch}", "status": outcome.status.value,
                           "applied": outcome.counts.applied, "batch_s": round(seconds, 1),
                           "rss_mb": round(rss, 1), "peak_rss_mb": round(peak, 1),
                           "gc_objects": len(gc.get_objects())})
    print(json.dumps(report))

asyncio.run(main())
"""


async def seed(url: str, keys: int) -> None:
    # A long timeout: on a busy machine the seeder's large index pipelines timed out writing.
    client = aioredis.from_url(url, decode_responses=True, socket_timeout=300)
    try:
        await seed_dataset(client, keys)
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--batches", type=int, default=3)
    args = parser.parse_args()

    server = start_redis_server()
    try:
        started = time.perf_counter()
        asyncio.run(seed(server.url, args.keys))
        print(f"seeded {args.keys} keys in {time.perf_counter() - started:.1f} s")
        out = subprocess.run(
            [sys.executable, "-c", CHILD, server.url, str(args.batches)],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            raise SystemExit(out.stderr[-3000:])
        report = json.loads(out.stdout.strip().splitlines()[-1])
        for step in report:
            print(json.dumps(step))
        final = float(report[-1]["rss_mb"])
        verdict = "within" if final <= TARGET_MB else "OVER"
        print(f"RSS after {args.batches} batches: {final:.1f} MB ({verdict} {TARGET_MB:.0f} MB)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
