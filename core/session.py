"""One connection to a CRS Redis and the read services the CLI and the TUI share.

The TUI holds a `CrsSession`; it never touches a Redis client itself.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis.asyncio as aioredis
from redis.exceptions import NoPermissionError, RedisError

from keyops.core.access import AccessCheck, check_batch_access
from keyops.core.connection import RedisClients, connect
from keyops.core.errors import ConnectionFailed
from keyops.core.settings import RedisSettings
from keyops.core.store.accounts import AccountCatalog, load_accounts
from keyops.core.store.key_table import KeyTable, fetch_record, load_key_table, read_index_version
from keyops.core.store.rows import KeyStatus

if TYPE_CHECKING:
    from keyops.core.batch.operations import OperationRecord
    from keyops.core.schema.keys import ApiKeyRecord  # a pydantic model: loaded when used


@dataclass(frozen=True, slots=True)
class ServerInfo:
    endpoint: str
    server: str  # e.g. "redis 7.0.15"
    index_version: int
    key_counts: dict[KeyStatus, int]
    account_counts: dict[str, int]
    group_count: int
    tag_count: int

    @property
    def key_total(self) -> int:
        return sum(self.key_counts.values())


class CrsSession:
    def __init__(self, clients: RedisClients) -> None:
        self.clients = clients

    @classmethod
    async def open(cls, settings: RedisSettings) -> CrsSession:
        return cls(await connect(settings))

    @classmethod
    def from_client(cls, client: aioredis.Redis, endpoint: str) -> CrsSession:
        """A session over an existing client (the demo's in-process store, tests)."""
        return cls(RedisClients(read=client, write=client, endpoint=endpoint))

    @property
    def endpoint(self) -> str:
        return self.clients.endpoint

    async def load_keys(self) -> KeyTable:
        return await load_key_table(self.clients.read)

    async def load_accounts(self) -> AccountCatalog:
        return await load_accounts(self.clients.read)

    async def record(self, key_id: str) -> ApiKeyRecord | None:
        return await fetch_record(self.clients.read, key_id)

    async def info(self, table: KeyTable | None = None) -> ServerInfo:
        table = table if table is not None else await self.load_keys()
        catalog = await self.load_accounts()
        server_info = await self.clients.read.info("server")
        name = "valkey" if "valkey_version" in server_info else "redis"
        version = server_info.get("valkey_version") or server_info.get("redis_version", "?")
        statuses = Counter(row.status() for row in table)
        tags = {tag for row in table for tag in row.tags}
        return ServerInfo(
            endpoint=self.endpoint,
            server=f"{name} {version}",
            index_version=await read_index_version(self.clients.read),
            key_counts={status: statuses.get(status, 0) for status in KeyStatus},
            account_counts=dict(Counter(a.platform.value for a in catalog.accounts.values())),
            group_count=len(catalog.groups),
            tag_count=len(tags),
        )

    async def ping(self) -> None:
        """Raises ConnectionFailed when Redis does not answer (the console's health check)."""
        try:
            await self.clients.read.ping()
        except (RedisError, OSError) as error:
            raise ConnectionFailed(f"Redis at {self.endpoint} does not answer: {error}") from error

    async def check_access(self) -> AccessCheck:
        """Whether this Redis user may run every command a batch sends (ACL DRYRUN)."""
        return await check_batch_access(self.clients.write)

    async def interrupted_operations(self) -> list[OperationRecord]:
        """Operations a keyops process left half-done (it died or lost Redis mid-batch)."""
        from keyops.core.batch.operations import OperationStore

        try:
            return await OperationStore(self.clients.read).unfinished()
        except NoPermissionError:
            return []  # a user kept out of keyops's keys cannot recover anything anyway

    async def aclose(self) -> None:
        await self.clients.aclose()
