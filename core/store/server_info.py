"""What `keyops info` reports: the server, the index version and where CRS's indexes disagree
with the records, and counts of keys, accounts, groups and tags."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from keyops.core.schema.catalog import AccountCatalog
from keyops.core.schema.rows import KeyStatus
from keyops.core.store.index_drift import IndexDrift
from keyops.core.store.key_table import KeyTable, read_index_version


@dataclass(frozen=True, slots=True)
class ServerInfo:
    endpoint: str
    server: str  # e.g. "redis 7.0.15"
    index_version: int
    key_counts: dict[KeyStatus, int]
    account_counts: dict[str, int]
    group_count: int
    tag_count: int
    drift: IndexDrift = field(default_factory=IndexDrift)

    @property
    def key_total(self) -> int:
        return sum(self.key_counts.values())


async def read_server_info(
    client: aioredis.Redis, endpoint: str, table: KeyTable, catalog: AccountCatalog
) -> ServerInfo:
    server_info = await client.info("server")
    name = "valkey" if "valkey_version" in server_info else "redis"
    version = server_info.get("valkey_version") or server_info.get("redis_version", "?")
    statuses = Counter(row.status() for row in table)
    tags = {tag for row in table for tag in row.tags}
    return ServerInfo(
        endpoint=endpoint,
        server=f"{name} {version}",
        index_version=await read_index_version(client),
        key_counts={status: statuses.get(status, 0) for status in KeyStatus},
        account_counts=dict(Counter(a.platform.value for a in catalog.accounts.values())),
        group_count=len(catalog.groups),
        tag_count=len(tags),
        drift=table.drift,
    )
