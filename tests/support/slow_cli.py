"""The real `keyops` CLI with every batch pausing before one chunk until the test lets it go
(for the signal tests: the signal arrives while the batch is half-way).

python -m tests.support.slow_cli STALL_AT_CHUNK KEYOPS_ARGS...

The batch writes chunks of 100 keys; before chunk STALL_AT_CHUNK it sets `test:stalled` in the
Redis of `--redis-url` and waits until the test sets `test:release`. Everything else (argument
parsing, signals, messages, exit codes) is the CLI's own.
"""

from __future__ import annotations

import asyncio
import functools
import sys

import redis.asyncio as aioredis

from keyops.cli import batch_commands
from keyops.cli.launcher import main
from keyops.core.api import RunnerSettings
from keyops.core.batch.config import ChunkHook


def stall_before(chunk: int, url: str) -> ChunkHook:
    async def stall(index: int) -> None:
        if index != chunk:
            return
        client = aioredis.from_url(url)
        try:
            await client.set("test:stalled", "1")
            for _ in range(3000):  # a minute at most
                if await client.exists("test:release"):
                    return
                await asyncio.sleep(0.02)
        finally:
            await client.aclose()

    return stall


if __name__ == "__main__":
    stall_at, argv = int(sys.argv[1]), sys.argv[2:]
    url = argv[argv.index("--redis-url") + 1]
    batch_commands.RunnerSettings = functools.partial(  # type: ignore[misc]
        RunnerSettings, chunk_size=100, lock_ttl_ms=1500, verify_delay=0.05,
        before_chunk=stall_before(stall_at, url),
    )  # fmt: skip
    sys.exit(main(argv))
