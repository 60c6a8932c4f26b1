"""Reads that wait on Redis, run side by side: while one waits for replies (or Python builds
rows from the last ones), the other's round trips go on."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

A = TypeVar("A")
B = TypeVar("B")


async def _gather(reads: list[Coroutine[Any, Any, Any]]) -> list[Any]:
    tasks = [asyncio.ensure_future(read) for read in reads]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        # The first failure (or a cancel) ends the others before it is raised as it is, not
        # wrapped in an ExceptionGroup: callers turn redis-py's own exceptions into keyops's.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def both(first: Coroutine[Any, Any, A], second: Coroutine[Any, Any, B]) -> tuple[A, B]:
    a, b = await _gather([first, second])
    return a, b


async def all_of(reads: list[Coroutine[Any, Any, A]]) -> list[A]:
    """Every result, in the order of `reads`."""
    return await _gather(list(reads))
