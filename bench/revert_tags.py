"""Revert of a tag add on N keys: planning (read, judge intent) and running it, timed.

    ./dev bench revert_tags [--sizes 10000,100000] [--runs 3] [--touched 0.01]

For each size: a fresh redis-server on loopback, N seeded CRS keys, the key list loaded as the
console would, then per run (untimed) a tag add on every key, after which a share of the keys
(--touched) gets another tag of someone else's, as CRS's UI would leave it. Timed: the revert's
plan (every key read and judged: exact restore, or the intent undo that keeps the other tag)
and its run (lock, journal + apply + audit in chunks, verify). Medians over --runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

import redis.asyncio as aioredis

from keyops.core.api import KeyopsSession, TagEdit
from keyops.core.seeding.writer import seed_dataset
from tests.support.redis_server import start_redis_server


async def add_their_tag(client: aioredis.Redis, ids: list[str]) -> None:
    """Someone else's tag appended to each key's list (the hash only: what a revert reads)."""
    for offset in range(0, len(ids), 1000):
        chunk = ids[offset : offset + 1000]
        pipe = client.pipeline(transaction=False)
        for key_id in chunk:
            pipe.hget(f"apikey:{key_id}", "tags")
        lists = await pipe.execute()
        pipe = client.pipeline(transaction=False)
        for key_id, raw in zip(chunk, lists, strict=True):
            tags = [*json.loads(raw or "[]"), "their-tag"]
            pipe.hset(f"apikey:{key_id}", "tags", json.dumps(tags, separators=(",", ":")))
        await pipe.execute()


async def measure(size: int, repeats: int, touched: float) -> dict[str, Any]:
    server = start_redis_server()
    try:
        client = aioredis.from_url(server.url, decode_responses=True)
        await seed_dataset(client, size)
        service = KeyopsSession.from_client(client, server.url)
        plan_runs: list[float] = []
        apply_runs: list[float] = []
        for run_number in range(repeats):
            table, _ = await service.load(refresh=True)
            ids = [row.id for row in table if not row.is_deleted]
            added = await service.plan(ids, TagEdit.build("add", [f"revert-me-{run_number}"]))
            outcome = None
            async for event in service.run(added):
                outcome = event.outcome or outcome
            assert outcome is not None and outcome.status.value == "done", outcome
            await add_their_tag(client, ids[: int(len(ids) * touched)])

            start = time.perf_counter()
            plan = await service.plan_revert(outcome.op_id)
            planned = time.perf_counter()
            result = None
            async for event in service.run(plan):
                result = event.outcome or result
            finished = time.perf_counter()
            assert result is not None and result.status.value == "done", result
            assert result.counts.applied == len(ids) and not plan.skipped
            plan_runs.append(planned - start)
            apply_runs.append(finished - planned)
        await client.aclose()
        plan_s, apply_s = statistics.median(plan_runs), statistics.median(apply_runs)
        return {
            "keys": len(ids), "touched": int(len(ids) * touched), "plan_s": plan_s,
            "run_s": apply_s, "keys_per_s": len(ids) / (plan_s + apply_s), "runs": repeats,
            "plan_runs_s": plan_runs, "run_runs_s": apply_runs,
        }  # fmt: skip
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--runs", type=int, default=3, help="runs per size; medians are reported")
    parser.add_argument(
        "--touched", type=float, default=0.01, help="share of keys given another tag first"
    )
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        r = asyncio.run(measure(size, args.runs, args.touched))
        print(
            f"{r['keys']:>7} keys, {r['touched']} with a tag added since (median of {r['runs']}): "
            f"plan {r['plan_s']:.2f} s, run {r['run_s']:.2f} s, {r['keys_per_s']:,.0f} keys/s",
            flush=True,
        )
        print("  " + json.dumps(r))


if __name__ == "__main__":
    main()
