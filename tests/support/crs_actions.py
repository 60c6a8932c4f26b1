"""What CRS itself writes, done on a live Redis: the other writer a recovery test needs."""

from __future__ import annotations

import redis.asyncio as aioredis


async def crs_soft_deletes(client: aioredis.Redis, key_id: str) -> None:
    """CRS's deleteApiKey (docs/crs-layout.md): the hash flagged deleted and inactive, the key
    moved from `set:active` to `set:deleted`; tags and name indexes untouched."""
    await client.hset(
        f"apikey:{key_id}",
        mapping={
            "isDeleted": "true", "isActive": "false", "deletedAt": "2026-12-02T05:00:00.000Z",
            "deletedBy": "crs_admin", "deletedByType": "admin",
        },
    )  # fmt: skip
    await client.sadd("apikey:set:deleted", key_id)
    await client.srem("apikey:set:active", key_id)
