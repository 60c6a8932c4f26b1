"""Sending one chunk of a running batch: one script call, and when its outcome is unknown
(timeout, dropped connection) the same call again. Compare-and-set makes that safe: keys the
lost call did write come back `already`, so nothing is applied or audited twice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from keyops.core.batch.run_state import RunState
from keyops.core.retry import backoff_seconds
from keyops.core.schema.writes import KeyWritePlan
from keyops.core.store.apply import ApplyResult, KeyWriter, WriteContext

Send = Callable[[RunState, list[KeyWritePlan], WriteContext | None], Awaitable[list[ApplyResult]]]


def chunk_sender(writer: KeyWriter, retries: int) -> Send:
    async def send(
        run: RunState, plans: list[KeyWritePlan], context: WriteContext | None = None
    ) -> list[ApplyResult]:
        for attempt in range(retries + 1):
            try:
                results = await writer.apply_chunk(plans, context or run.context)
                run.last_write = time.monotonic()
                return results
            except (RedisConnectionError, RedisTimeoutError, OSError):
                # A lock that may have lapsed must not write: the error goes up instead.
                if attempt == retries or not run.lock.surely_alive():
                    raise
                await asyncio.sleep(backoff_seconds(attempt))
        raise AssertionError("unreachable")

    return send
