"""A keyops batch that stops mid-way and waits to be killed (for the SIGKILL recovery test).

python -m tests.support.slow_batch REDIS_URL QUERY TAG [STALL_AT_CHUNK]
(TAG "--disable": a best-effort disable instead of a tag edit)
"""

from __future__ import annotations

import asyncio
import sys

from keyops.core.api import BatchConfig, KeyopsSession, RunnerSettings, StatusChange, TagEdit
from keyops.core.settings import resolve_settings


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


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
