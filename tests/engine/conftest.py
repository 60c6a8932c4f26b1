"""Engine tests run against the real redis-server, on the CRS fixture."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis

from keyops.core.api import BatchConfig, BatchPlan, KeyopsSession, RunnerSettings
from keyops.core.batch.progress import Outcome, ProgressEvent
from tests.support.dump import snapshot


def make_service(client: aioredis.Redis, **settings: Any) -> KeyopsSession:
    runner = RunnerSettings(**{"verify_delay": 0.05, **settings})
    return KeyopsSession.from_client(client, "test", BatchConfig(runner))


async def run(
    service: KeyopsSession, plan: BatchPlan, cancel: asyncio.Event | None = None
) -> tuple[Outcome, list[ProgressEvent]]:
    events = [event async for event in service.run(plan, cancel)]
    outcome = events[-1].outcome
    assert outcome is not None
    return outcome, events


async def crs_state(client: aioredis.Redis) -> dict[str, Any]:
    """Everything CRS owns (keyops's own `keyops:*` bookkeeping left out)."""
    return {
        name: value
        for name, value in (await snapshot(client)).items()
        if not name.startswith("keyops:")
    }


async def ids_where(service: KeyopsSession, where: str) -> list[str]:
    return await service.targets(where, None)
