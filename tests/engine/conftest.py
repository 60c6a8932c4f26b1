"""Engine tests run against the real redis-server, on the CRS fixture."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis

from keyops.core.batch.planning import BatchPlan
from keyops.core.batch.progress import Outcome, ProgressEvent
from keyops.core.batch.runner import RunnerSettings
from keyops.core.batch.service import BatchConfig, BatchService
from keyops.core.session import CrsSession
from tests.support.dump import snapshot


def make_service(client: aioredis.Redis, **settings: Any) -> BatchService:
    runner = RunnerSettings(**{"verify_delay": 0.05, **settings})
    return BatchService(CrsSession.from_client(client, "test"), BatchConfig(runner))


async def run(
    service: BatchService, plan: BatchPlan, cancel: asyncio.Event | None = None
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


async def ids_where(service: BatchService, where: str) -> list[str]:
    return await service.targets(where, None)
