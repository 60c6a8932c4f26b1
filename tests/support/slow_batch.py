"""A keyops batch that stops mid-way and waits to be killed (for the SIGKILL recovery test).

python -m tests.support.slow_batch REDIS_URL QUERY TAG
"""

from __future__ import annotations

import asyncio
import sys

from core.batch.requests import TagEdit
from core.batch.runner import RunnerSettings
from core.batch.service import BatchConfig, BatchService
from core.session import CrsSession
from core.settings import resolve_settings


async def main(url: str, query: str, tag: str) -> None:
    session = await CrsSession.open(resolve_settings(url))

    async def stall(index: int) -> None:
        if index == 3:
            await session.clients.write.set("test:stalled", "1")
            await asyncio.sleep(3600)

    settings = RunnerSettings(chunk_size=100, lock_ttl_ms=1500, before_chunk=stall)
    service = BatchService(session, BatchConfig(settings))
    plan = await service.plan_tags(await service.targets(query, None), TagEdit.build("add", [tag]))
    async for _ in service.run(plan):
        pass


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
