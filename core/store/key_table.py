"""Loading every API key into lean rows, and reading one full record on demand."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import cast

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from core.schema import layout
from core.schema.keys import ApiKeyRecord
from core.store.rows import ROW_FIELDS, KeyRow, RowBuilder

# 1,000 keys a round trip is the measured sweet spot (shared/redis-engineering.md 1.2).
LOAD_CHUNK = 1000


@dataclass(slots=True)
class KeyTable:
    rows: list[KeyRow] = field(default_factory=list)
    by_id: dict[str, KeyRow] = field(default_factory=dict)
    index_version: int = 0
    # Names that looked like key records but are not hashes, and index ids with no record.
    not_hashes: list[str] = field(default_factory=list)
    missing_ids: list[str] = field(default_factory=list)

    def add(self, row: KeyRow) -> None:
        self.rows.append(row)
        self.by_id[row.id] = row

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[KeyRow]:
        return iter(self.rows)

    @property
    def index_ready(self) -> bool:
        return self.index_version >= layout.INDEX_READY_VERSION


async def read_index_version(client: aioredis.Redis) -> int:
    raw = await client.get(layout.INDEX_VERSION)
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        return 0


async def iter_key_ids(client: aioredis.Redis, index_version: int) -> AsyncIterator[list[str]]:
    """Key ids in batches: from `apikey:idx:all` when the index is ready, else by SCAN.

    SSCAN / SCAN with COUNT 1000 keep each call short; the live relay shares this Redis.
    """
    seen: set[str] = set()
    if index_version >= layout.INDEX_READY_VERSION:
        cursor = 0
        while True:
            cursor, found = await client.sscan(layout.IDX_ALL, cursor, count=LOAD_CHUNK)
            members = cast(list[str], found)  # every keyops client decodes replies to str
            fresh = [member for member in members if member not in seen]
            seen.update(fresh)
            if fresh:
                yield fresh
            if cursor == 0:
                return
    cursor = 0
    while True:
        # TYPE hash is CRS's advice for Python readers; the two-part rule drops the rest.
        cursor, found = await client.scan(cursor, match="apikey:*", count=LOAD_CHUNK, _type="hash")
        names = cast(list[str], found)
        fresh = []
        for name in names:
            key_id = layout.key_id_from_redis_key(name)
            if key_id is not None and key_id not in seen:
                seen.add(key_id)
                fresh.append(key_id)
        if fresh:
            yield fresh
        if cursor == 0:
            return


def _chunks(ids: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


async def load_key_table(client: aioredis.Redis) -> KeyTable:
    """Every key record as a lean row (deleted keys included; queries hide them by default)."""
    table = KeyTable(index_version=await read_index_version(client))
    builder = RowBuilder()
    pending: list[str] = []
    async for batch in iter_key_ids(client, table.index_version):
        pending.extend(batch)
        while len(pending) >= LOAD_CHUNK:
            await _load_chunk(client, pending[:LOAD_CHUNK], table, builder)
            del pending[:LOAD_CHUNK]
    for chunk in _chunks(pending, LOAD_CHUNK):
        await _load_chunk(client, chunk, table, builder)
    return table


async def _load_chunk(
    client: aioredis.Redis, ids: list[str], table: KeyTable, builder: RowBuilder
) -> None:
    pipe = client.pipeline(transaction=False)
    for key_id in ids:
        pipe.hmget(layout.api_key(key_id), ROW_FIELDS)
    replies = await pipe.execute(raise_on_error=False)
    for key_id, reply in zip(ids, replies, strict=True):
        if isinstance(reply, ResponseError):
            table.not_hashes.append(layout.api_key(key_id))
            continue
        if all(value is None for value in reply):
            table.missing_ids.append(key_id)
            continue
        table.add(builder.build(key_id, reply))


async def fetch_record(client: aioredis.Redis, key_id: str) -> ApiKeyRecord | None:
    """The full decoded record, or None if the key does not exist (or is not a hash)."""
    try:
        raw = cast(dict[str, str], await client.hgetall(layout.api_key(key_id)))
    except ResponseError:
        return None
    if not raw:
        return None
    return ApiKeyRecord.from_redis(key_id, raw)
