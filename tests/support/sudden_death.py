"""A keyops process that is SIGKILLed mid-batch, simulated inside the test process.

The doomed process gets its own event loop and its own Redis connections. When its batch
reaches the chosen moment, the loop is simply never run again: no `finally` block, no lock
release, no heartbeat, no last save of the operation record, exactly as after SIGKILL. Its
sockets are then closed the way the kernel closes a dead process's sockets, so Redis still runs
whatever the process had already sent (a chunk in flight) and then drops the connection. The
test waits for that, so the state left behind is the same on every run.

A subprocess killed for real (tests/support/slow_batch.py) costs a Python start and the imports
each time; a property test that kills hundreds of batches cannot afford that.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from tests.support.redis_server import free_port

T = TypeVar("T")


class DoomedProcess:
    def __init__(self, port: int, db: int) -> None:
        self.name = f"doomed-{uuid.uuid4().hex[:8]}"
        self._runner = asyncio.Runner()
        self.client = aioredis.Redis(
            port=port, db=db, decode_responses=True, encoding_errors="surrogateescape",
            client_name=self.name,
        )  # fmt: skip
        self._frozen: list[asyncio.Future[Any]] = []

    def run(self, work: Callable[[asyncio.Event], Awaitable[T]]) -> tuple[T | None, bool]:
        """Runs `work(death)` on this process's loop until it returns (result, False) or sets
        `death` ((None, True): from then on nothing of this process runs)."""

        async def until_done_or_dead() -> tuple[T | None, bool]:
            death = asyncio.Event()
            task = asyncio.ensure_future(work(death))
            waiter = asyncio.ensure_future(death.wait())
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                waiter.cancel()
                return task.result(), False
            self._frozen.append(task)  # kept, never resumed
            return None, True

        return self._runner.run(until_done_or_dead())

    async def kill(self, observer: aioredis.Redis) -> None:
        """Closes the dead process's sockets (what the kernel does) and waits until Redis has
        run what they had sent and let go of them. `observer` is a client of the caller's loop."""
        pool = self.client.connection_pool
        for connection in [*pool._available_connections, *pool._in_use_connections]:
            writer = getattr(connection, "_writer", None)
            if writer is None:
                continue
            sock = writer.transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)  # data already sent still arrives first
        for _ in range(1000):
            if not any(c.get("name") == self.name for c in await observer.client_list()):
                return
            await asyncio.sleep(0.005)
        raise RuntimeError(f"Redis never dropped {self.name}'s connections")

    def close(self) -> None:
        """It lived: closes its connections and its loop."""
        self._runner.run(self.client.aclose())
        self._runner.close()

    def dispose(self) -> None:
        """Frees the loop. Cancelling its frozen tasks runs their `finally` blocks; pointed at
        a closed port, what they try to send never reaches Redis."""
        dead_port, no_retry = free_port(), Retry(NoBackoff(), 0)
        pool = self.client.connection_pool
        pool.connection_kwargs.update(port=dead_port, retry=no_retry)
        for connection in [*pool._available_connections, *pool._in_use_connections]:
            connection.port, connection.retry = dead_port, no_retry  # type: ignore[attr-defined]
        with contextlib.suppress(Exception):
            self._runner.close()
