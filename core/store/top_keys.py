"""The keys highest on a usage figure, out of every key, without loading the key list.

`keys top` wants ten rows out of 100,000: the usage read already carries what ranking needs
(whether a key is deleted), so the ids come from `apikey:idx:all` (and the SCAN that finds
records the index lacks, run while the indexed keys' usage is read), and only the winners'
rows are read. The key list's own load, rows for every key, is the larger cost of the two.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from keyops.core.schema import layout
from keyops.core.schema.rows import ROW_FIELDS, KeyRow, RowBuilder
from keyops.core.store.key_table import index_ids, read_fields, read_index_version, record_ids
from keyops.core.usage.figures import UsageTable
from keyops.core.usage.loader import load_usage


@dataclass(slots=True)
class Ranking:
    rows: list[KeyRow]  # highest first
    usage: UsageTable  # every ranked key's usage
    ranked: int  # how many keys were ranked


async def _scanned(client: aioredis.Redis) -> list[str]:
    return [key_id async for ids in record_ids(client) for key_id in ids]


async def rank_every_key(
    client: aioredis.Redis,
    by: str,
    count: int,
    *,
    include_deleted: bool,
    now: float,
    offset: int,
) -> Ranking:
    indexed: dict[str, None] = {}
    if await read_index_version(client) >= layout.INDEX_READY_VERSION:
        async for members in index_ids(client):  # SSCAN may repeat a member
            indexed.update(dict.fromkeys(members))
    scanning = asyncio.create_task(_scanned(client))
    try:
        usage = await load_usage(client, list(indexed), now=now, offset=offset)
    except BaseException:
        scanning.cancel()
        await asyncio.gather(scanning, return_exceptions=True)
        raise
    others = [key_id for key_id in dict.fromkeys(await scanning) if key_id not in indexed]
    if others:
        usage.by_id.update((await load_usage(client, others, now=now, offset=offset)).by_id)
    ids = [*indexed, *others]
    if not include_deleted:
        ids = [key_id for key_id in ids if not usage.get(key_id).is_deleted]
    top = usage.top(ids, by, count)
    rows: dict[str, KeyRow] = {}
    builder = RowBuilder()
    async for chunk, replies in read_fields(client, [top]):
        for key_id, reply in zip(chunk, replies, strict=True):
            if not isinstance(reply, ResponseError):
                rows[key_id] = builder.build(key_id, reply or [None] * len(ROW_FIELDS))
    return Ranking([rows[key_id] for key_id in top if key_id in rows], usage, len(ids))
