"""Whether a database holds CRS data at all: the wrong DB index or host is caught at connect,
before anything reads an empty list as "no keys" or writes into someone else's data."""

from __future__ import annotations

import redis.asyncio as aioredis

from keyops.core.errors import NotACrsDatabase
from keyops.core.schema import layout


async def holds_crs_data(client: aioredis.Redis) -> bool:
    if await client.exists(layout.INDEX_VERSION, layout.HASH_MAP, layout.ACCOUNT_GROUPS):
        return True
    # One bounded SCAN step per call; stop at the first key record.
    cursor = 0
    for _ in range(10_000):
        cursor, names = await client.scan(cursor, match="apikey:*", count=1000)
        if any(layout.key_id_from_redis_key(str(name)) for name in names):
            return True
        if cursor == 0:
            return False
    return False


async def require_crs_data(client: aioredis.Redis, endpoint: str) -> None:
    if not await holds_crs_data(client):
        raise NotACrsDatabase(
            f"no CRS data in {endpoint} (no apikey:* keys, no account groups): "
            "check REDIS_DB / the database number in the URL"
        )
