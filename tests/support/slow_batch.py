"""A keyops batch that stops mid-way and waits to be killed (for the SIGKILL recovery tests).

python -m tests.support.slow_batch REDIS_URL QUERY TAG [STALL_AT_CHUNK]
(TAG "--disable": a best-effort disable instead of a tag edit)
python -m tests.support.slow_batch REDIS_URL --recover OP_ID ACTION [STALL_AT_CHUNK]
(the recovery of an interrupted operation, ACTION rollback or resume, killed in its turn)
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

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
    if query == "--recover":
        plan, resume = await service.plan_recovery(tag, sys.argv[4])
        async for _ in service.run_recovery(plan, resume):
            pass
        return
    targets = await service.targets(query, None)
    if tag == "--disable":
        plan = await service.plan(targets, StatusChange.build(enable=False))
    else:
        plan = await service.plan(targets, TagEdit.build("add", [tag]))
    async for _ in service.run(plan):
        pass


async def kill_mid_batch(
    client: aioredis.Redis,
    url: str,
    *args: str,
    lease_wait: float = 2.0,
    while_stalled: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Runs this module with `args` in a child process, SIGKILLs it once it stalls (after
    `while_stalled`, what happens around the stalled batch), and waits `lease_wait` seconds:
    by default for the dead process's 1.5 s lease to run out (its operation is then
    interrupted); 0 for a caller that waits on its own terms."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.slow_batch", url, *args
    )
    try:
        for _ in range(600):
            if await client.exists("test:stalled"):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the batch never reached the chunk it stalls at")
        if while_stalled is not None:
            await while_stalled()
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    await client.delete("test:stalled")
    await asyncio.sleep(lease_wait)


if __name__ == "__main__":
    if sys.argv[2] == "--recover":
        asyncio.run(main(sys.argv[1], "--recover", sys.argv[3], *sys.argv[5:6]))
    else:
        asyncio.run(main(*sys.argv[1:5]))
