"""Reading many small replies fast: commands encoded once as RESP bytes per chunk, the next
chunk sent before the current one is decoded (Redis works while Python parses), one timeout
per chunk. Reads are idempotent, so after a dropped connection the chunks not yet delivered
are read again on a fresh connection. The key list's HMGETs and the usage loader's reads go
through here."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from keyops.core.retry import RETRIES, backoff_seconds
from keyops.core.settings import socket_timeout_of

T = TypeVar("T")

# Replies parsed between two yields to the event loop when they are already buffered.
REPLIES_PER_TURN = 250


async def _read_replies(connection: Any, count: int, direct: bool) -> list[Any]:
    parser = connection._parser
    if direct and type(parser).__name__ == "_AsyncHiredisParser":
        return await _read_hiredis(connection, parser, count)
    read = parser.read_response if direct else connection.read_response
    replies: list[Any] = []
    async with asyncio.timeout(socket_timeout_of(connection)):
        for _ in range(count):
            try:
                replies.append(await read())
            except ResponseError as error:  # an error reply (a wrong type) stays in its place
                replies.append(error)
    return replies


async def _read_hiredis(connection: Any, parser: Any, count: int) -> list[Any]:
    """Replies straight from hiredis's reader, fed from the socket when it runs dry: redis-py's
    per-reply wrapper cost as much as the parsing itself at 400,000 replies. Error replies
    come back as exception objects, in their place."""
    gets = parser._reader.gets
    # The marker redis-py's hiredis reader was made with for "not enough data yet".
    short = getattr(sys.modules[type(parser).__module__], "NOT_ENOUGH_DATA", False)
    replies: list[Any] = []
    append = replies.append
    async with asyncio.timeout(socket_timeout_of(connection)):
        while len(replies) < count:
            reply = gets()
            if reply is short:
                await parser.read_from_socket()  # no pause when the socket has data already
                continue
            if isinstance(reply, RedisConnectionError):
                raise reply
            append(reply)
            if len(replies) % REPLIES_PER_TURN == 0:
                # A chunk parsed in one go (1,000 key rows) held the console's event loop
                # 15-30 ms on a busy machine.
                await asyncio.sleep(0)
    return replies


async def read_chunks(
    client: aioredis.Redis,
    chunks: list[list[T]],
    encode: Callable[[list[T]], tuple[bytes, int]],
) -> AsyncIterator[tuple[list[T], list[Any]]]:
    """For each chunk, `encode(chunk)` gives its commands and how many replies they make;
    yields each chunk with its replies, in order."""
    done = 0
    for attempt in range(RETRIES + 1):
        connection = await client.connection_pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            # fakeredis's in-process connection answers one written batch at a time through
            # its public reader; real sockets get the read-ahead and the direct parser.
            read_ahead = type(connection).__module__.startswith("redis.")
            pending: list[int] = []
            if done < len(chunks):
                payload, count = encode(chunks[done])
                await connection.send_packed_command(payload, check_health=attempt > 0)
                pending.append(count)
            while done < len(chunks):
                if read_ahead and done + 1 < len(chunks):
                    payload, count = encode(chunks[done + 1])
                    await connection.send_packed_command(payload, check_health=False)
                    pending.append(count)
                replies = await _read_replies(connection, pending.pop(0), read_ahead)
                done += 1
                if not read_ahead and done < len(chunks):
                    payload, count = encode(chunks[done])
                    await connection.send_packed_command(payload, check_health=False)
                    pending.append(count)
                yield chunks[done - 1], replies
            return
        except (RedisConnectionError, RedisTimeoutError, OSError):
            await connection.disconnect()
            if attempt == RETRIES:
                raise
            await asyncio.sleep(backoff_seconds(attempt))
        except BaseException:
            # Cancelled (a detail closed, a refresh replaced) or abandoned with replies still
            # on their way: back in the pool, the connection would hand them to the next
            # command as its own answer.
            await connection.disconnect(nowait=True)
            raise
        finally:
            await client.connection_pool.release(connection)
