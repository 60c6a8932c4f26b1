"""Redis clients for keyops, built in one place, and the one-line errors for failing to connect.

Two clients share an endpoint: reads retry transient errors, writes never do. redis-py 8's
default retry re-sends a whole pipeline after a timeout, which double-applies a chunk that
already ran on the server before the reply was lost, so write chunks go out exactly once and the
engine reconciles by re-reading instead.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import AbstractBackoff, NoBackoff
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    ConnectionError,
    RedisError,
    ResponseError,
    TimeoutError,
)

from keyops.core.errors import ConnectionFailed, KeyopsError
from keyops.core.logs import register_secret
from keyops.core.retry import RETRIES, backoff_seconds
from keyops.core.settings import RedisSettings

log = logging.getLogger("keyops.connection")

CONNECT_TIMEOUT_SECONDS = 5.0
# Only on the failure path: does a server that ignored a TLS hello answer plain RESP?
PROBE_TIMEOUT_SECONDS = 2.0


class _ReadBackoff(AbstractBackoff):
    """redis-py's retry waits by keyops's one policy (it counts failures from 1)."""

    def compute(self, failures: int) -> float:
        return backoff_seconds(failures - 1)


@dataclass(frozen=True, slots=True)
class RedisClients:
    """`read` retries transient failures; `write` sends each command exactly once."""

    read: aioredis.Redis
    write: aioredis.Redis
    endpoint: str

    async def aclose(self) -> None:
        await self.read.aclose()
        if self.write is not self.read:
            await self.write.aclose()


def _client(settings: RedisSettings, retry: Retry) -> aioredis.Redis:
    kwargs: dict[str, object] = {}
    if settings.tls:
        options = settings.tls_options
        kwargs["ssl_cert_reqs"] = ssl.CERT_REQUIRED
        kwargs["ssl_check_hostname"] = not options.skip_hostname_check
        if options.ca_file is not None:
            kwargs["ssl_ca_certs"] = str(options.ca_file)
        if options.cert_file is not None and options.key_file is not None:
            kwargs["ssl_certfile"] = str(options.cert_file)
            kwargs["ssl_keyfile"] = str(options.key_file)
    return aioredis.Redis(
        host=settings.host,
        port=settings.port,
        db=settings.db,
        username=settings.username,
        password=settings.password.get_secret_value() if settings.password else None,
        ssl=settings.tls,
        decode_responses=True,
        # Bytes that are not UTF-8 come back as lone surrogates instead of failing the whole
        # read; rows holding them are listed as damaged and never written (schema/damage.py).
        encoding_errors="surrogateescape",
        socket_timeout=settings.socket_timeout,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        retry=retry,
        **kwargs,  # type: ignore[arg-type]
    )


def make_clients(settings: RedisSettings) -> RedisClients:
    read_retry = Retry(_ReadBackoff(), RETRIES)
    write_retry = Retry(NoBackoff(), 0)
    return RedisClients(
        read=_client(settings, read_retry),
        write=_client(settings, write_retry),
        endpoint=settings.endpoint,
    )


def describe_connect_error(error: Exception, settings: RedisSettings) -> str:
    """One line an operator can act on. Never includes the password."""
    where = settings.endpoint
    message = str(error)
    if settings.password is not None:
        message = message.replace(settings.password.get_secret_value(), "***")
    auth_failed = isinstance(error, AuthenticationError) or "WRONGPASS" in message
    if "NOAUTH" in message or (auth_failed and settings.password is None):
        return (
            f"Redis at {where} requires a password: set REDIS_PASSWORD "
            "or put it in the URL (redis://:PASSWORD@host:port/db)"
        )
    if auth_failed:
        return (
            f"Redis at {where} rejected the credentials (from {settings.source}): "
            "check REDIS_PASSWORD or the user:password in the URL"
        )
    if isinstance(error, AuthorizationError) or "NOPERM" in message:
        return f"Redis at {where}: this user lacks permission: {message}"
    if isinstance(error, TimeoutError):
        return f"cannot reach Redis at {where}: timed out after {CONNECT_TIMEOUT_SECONDS:g} s"
    if isinstance(error, ssl.SSLError) or "SSL" in message:
        return f"TLS handshake with Redis at {where} failed: {message}"
    if isinstance(error, ConnectionError):
        reason = message.split(". ", 1)[-1] if ". " in message else message
        if not settings.tls and "reset by peer" in message:
            # What a TLS-only server does with a plain PING.
            reason += "; if the server only speaks TLS, use a rediss:// URL"
        return f"cannot reach Redis at {where}: {reason}"
    return f"Redis at {where} failed: {message}"


Verify = Callable[[aioredis.Redis, str], Awaitable[None]]


async def connect(settings: RedisSettings, verify: Verify | None = None) -> RedisClients:
    """Clients that answered PING. `verify(read client, endpoint)` runs before they are handed
    out (the facade proves the DB holds CRS data there); Redis errors it meets are reported
    like a failed connect, and a KeyopsError it raises goes to the caller as it is."""
    if settings.password is not None:
        register_secret(settings.password.get_secret_value())
    clients = make_clients(settings)
    try:
        # First contact through the client that never retries: a server that does not answer
        # is reported after one connect timeout, not after one per retry of the read client.
        await clients.write.ping()
        if verify is not None:
            await verify(clients.read, settings.endpoint)
    except KeyopsError:
        await clients.aclose()
        raise
    except (RedisError, OSError) as error:
        await clients.aclose()
        message = describe_connect_error(error, settings)
        if settings.tls and isinstance(error, TimeoutError) and await answers_without_tls(settings):
            # A plain server never answers a TLS hello: it would only look like a dead host.
            message = (
                f"Redis at {settings.endpoint} answers without TLS: use a redis:// URL "
                "(or REDIS_ENABLE_TLS=false)"
            )
        log.warning("connect failed: %s", message)
        raise ConnectionFailed(message) from None
    log.info(
        "connected to %s as %s (settings from %s)",
        settings.endpoint, settings.username or "default", settings.source,
    )  # fmt: skip
    return clients


async def answers_without_tls(settings: RedisSettings) -> bool:
    """Whether the endpoint speaks plain RESP: a PING over bare TCP gets a RESP reply."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            reader, writer = await asyncio.open_connection(settings.host, settings.port)
            try:
                writer.write(b"PING\r\n")
                await writer.drain()
                reply = await reader.readline()
            finally:
                writer.close()
    except (OSError, TimeoutError):
        return False
    return reply.startswith((b"+", b"-"))


__all__ = [
    "ConnectionFailed",
    "RedisClients",
    "ResponseError",
    "connect",
    "describe_connect_error",
    "make_clients",
]
