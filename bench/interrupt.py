"""Ctrl+C, SIGHUP and SIGTERM part-way through a big CLI batch: what it left, how long it took.

    ./dev bench interrupt [--keys 48950] [--at 0.28] [--keyops-from DIR]

(--keyops-from: run the CLI from another build, e.g. `pip install --no-deps --target DIR .` of
an older commit, to compare.)

Issue 11's scenario: Ctrl+C at 28% of a 48,950-key atomic tag add left 19,100 keys changed. Each
case here: a fresh redis-server, --keys seeded CRS keys, the real `keyops` CLI in its own process
over every live key (an ids file, --yes); once its journal holds --at of them, the signal. Then:
keys written when signalled and in the end (the journal), keys still holding the change after
the process exited (an atomic batch must leave none; a best-effort one keeps its journal), the
operation's status, the exit code, and the seconds from the signal to the exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import redis.asyncio as aioredis

from keyops.core.api import KeyopsSession
from keyops.core.batch import names
from keyops.core.seeding.writer import seed_dataset
from tests.support.redis_server import start_redis_server

CASES = (
    ("tags add (atomic)", ("tags", "add", "interrupted"), signal.SIGINT),
    ("tags add (atomic)", ("tags", "add", "interrupted"), signal.SIGHUP),
    ("status disable (best effort)", ("status", "disable"), signal.SIGTERM),
)


async def newest_op(client: aioredis.Redis) -> str:
    ids = await client.zrevrange(names.OPS_INDEX, 0, 0)
    return str(ids[0]) if ids else ""


async def run_case(
    keys: int, at: float, command: tuple[str, ...], sig: signal.Signals, build: str | None
) -> str:
    server = start_redis_server()
    client = aioredis.from_url(server.url, decode_responses=True)
    try:
        await seed_dataset(client, keys)
        session = KeyopsSession.from_client(client, server.url)
        table, _ = await session.load()
        ids = [row.id for row in table if not row.is_deleted]
        with tempfile.TemporaryDirectory() as folder:
            ids_file = Path(folder) / "ids.txt"
            ids_file.write_text("\n".join(ids) + "\n")
            env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "KEYOPS_"))}
            env["XDG_STATE_HOME"] = folder
            if build:
                env["PYTHONPATH"] = build
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "keyops", *command, "--ids-file", str(ids_file), "--yes",
                "--json", "--redis-url", server.url,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
                cwd=folder,  # not the repository: `keyops` comes from the install (or the build)
            )  # fmt: skip
            op_id, written_at_signal = "", 0
            while child.returncode is None:
                op_id = op_id or await newest_op(client)
                if op_id:
                    written_at_signal = int(await client.hlen(names.op_journal(op_id)))
                    if written_at_signal >= at * len(ids):
                        break
                await asyncio.sleep(0.005)
            signalled = time.monotonic()
            child.send_signal(sig)
            _, err = await child.communicate()
            seconds = time.monotonic() - signalled
        record = json.loads((await client.hget(names.op_record(op_id), "json")) or "{}")
        journal = int(await client.hlen(names.op_journal(op_id)))
        if command[0] == "tags":
            still = int(await client.scard("apikey:tag:interrupted"))
        else:
            disabled_before = {row.id for row in table if not row.is_active}
            now, _ = await session.load(refresh=True)
            still = sum(1 for row in now if not row.is_active and row.id not in disabled_before)
        last = err.decode().strip().splitlines()[-1] if err.strip() else ""
        return (
            f"| {sig.name} | {len(ids)} | {written_at_signal} | {journal} | {still} | "
            f"{record.get('status', '?')} | {child.returncode} | {seconds:.2f} | {last[:160]} |"
        )
    finally:
        await client.aclose()
        server.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--keys", type=int, default=48_950)
    parser.add_argument("--at", type=float, default=0.28, help="fraction written before the signal")
    parser.add_argument("--keyops-from", help="a folder holding another keyops build")
    args = parser.parse_args()
    build = f" (keyops from {args.keyops_from})" if args.keyops_from else ""
    print(
        f"{args.keys} seeded keys; the signal once the journal holds {args.at:.0%} of them{build}"
    )
    print("| batch | signal | keys | written at signal | written (journal) | still changed after "
          "exit | op status | exit code | signal to exit, s | last line on stderr |")  # fmt: skip
    print("|---" * 10 + "|")
    for title, command, sig in CASES:
        row = await run_case(args.keys, args.at, command, sig, args.keyops_from)
        print(f"| {title} {row}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
