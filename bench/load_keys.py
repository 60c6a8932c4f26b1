"""Load time and process RSS for N seeded keys (issue 2 numbers), on a real redis-server.

    ./dev bench load_keys [--keys 100000] [--runs 3]

Seeds N CRS-shaped keys with keyops's seeder into a fresh redis-server on a loopback port,
then, in a fresh Python process per run (so nothing else sits in its memory), times connect +
load of every key into the lean key table plus the account catalog, and reads the process's
RSS. Targets: loaded in under 3 s, RSS under 250 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys

from bench.support.harness import seed
from tests.support.redis_server import start_redis_server

# Runs in a child process: import, measure the baseline, load, measure again.
CHILD = r"""
import asyncio, json, sys, time

def rss_mb():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024

from keyops.core.api import KeyopsSession
from keyops.core.settings import resolve_settings
baseline = rss_mb()[0]

async def main():
    start = time.perf_counter()
    session = await KeyopsSession.open(resolve_settings(sys.argv[1]))
    table, catalog = await session.load()
    elapsed = time.perf_counter() - start
    await session.aclose()
    rss, peak = rss_mb()
    print(json.dumps({"keys": len(table), "accounts": len(catalog.accounts), "seconds": elapsed,
                      "rss_mb": rss, "peak_rss_mb": peak, "baseline_rss_mb": baseline}))

asyncio.run(main())
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    server = start_redis_server()
    try:
        seconds = asyncio.run(seed(server.url, args.keys))
        print(f"seeded {args.keys} keys in {seconds:.1f} s into redis-server on port {server.port}")
        runs = []
        for _ in range(args.runs):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, server.url],
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(out.stdout))
            r = runs[-1]
            print(
                f"  loaded {r['keys']} keys + {r['accounts']} accounts in {r['seconds']:.2f} s, "
                f"RSS {r['rss_mb']:.0f} MB (peak {r['peak_rss_mb']:.0f} MB, before load {r['baseline_rss_mb']:.0f} MB)"
            )
        load = statistics.median(r["seconds"] for r in runs)
        peak = statistics.median(r["peak_rss_mb"] for r in runs)
        print(
            f"median of {args.runs}: load {load:.2f} s (target < 3 s), "
            f"peak RSS {peak:.0f} MB (target < 250 MB)"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
