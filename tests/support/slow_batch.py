"""A keyops batch that stops mid-way and waits to be killed (for the SIGKILL recovery test).

python -m tests.support.slow_batch REDIS_URL QUERY TAG [STALL_AT_CHUNK]
(TAG "--disable": a best-effort disable instead of a tag edit)

`kill_mid_batch` runs it on `tag:bulk` and SIGKILLs it at its fourth chunk.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import pytest
import redis.asyncio as aioredis

from keyops.core.api import BatchConfig, KeyopsSession, RunnerSettings, StatusChange, TagEdit
from keyops.core.settings import resolve_settings
from tests.support.redis_server import RedisServer


async def main(url: str, query: str, tag: str, stall_at: str = "3") -> None:
    session = await KeyopsSession.open(resolve_settings(url))

    async def stall(index: int) -> None:
        if index == int(stall_at):
            await session.clients.write.set("test:stalled", "1")
            await asyncio.sleep(3600)

    settings = RunnerSettings(chunk_size=100, lock_ttl_ms=1500, before_chunk=stall)
    session.config = BatchConfig(settings)
    service = session
    targets = await service.targets(query, None)
    if tag == "--disable":
        plan = await service.plan(targets, StatusChange.build(enable=False))
    else:
        plan = await service.plan(targets, TagEdit.build("add", [tag]))
    async for _ in service.run(plan):
        pass


async def kill_mid_batch(crs: aioredis.Redis, redis_server: RedisServer, tag: str) -> None:
    """A tag add on `tag:bulk` in its own process, SIGKILLed after three chunks (300 keys)
    landed; returns once the dead process's lease has run out."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.slow_batch", redis_server.url, "tag:bulk", tag
    )
    try:
        for _ in range(300):
            if await crs.exists("test:stalled"):
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the batch never reached its fourth chunk")
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    await crs.delete("test:stalled")
    await asyncio.sleep(2.0)  # the dead process's 1.5 s lease runs out


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
