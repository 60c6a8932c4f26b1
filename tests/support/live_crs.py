"""CRS's updateApiKey as a concurrent actor on a live Redis: the transliteration in
crs_reference.py applied to one key and written the way CRS writes it (an HSET of the whole
hash it read, then SADD/SREM on the index sets it maintains). A test plays an operator
editing a key in CRS's UI while keyops runs, or a request that read the key earlier.
"""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis

from tests.support.crs_reference import State, crs_update

NOW_ISO = "2026-12-01T08:00:00.000Z"


async def crs_update_api_key(
    client: aioredis.Redis,
    key_id: str,
    updates: dict[str, Any],
    *,
    read: dict[str, str] | None = None,
) -> None:
    """updateApiKey(key_id, updates) on the hash as CRS read it: `read` (a stale copy taken
    earlier) or what Redis holds now."""
    record = f"apikey:{key_id}"
    fields = dict(read) if read is not None else await client.hgetall(record)
    old_tags = json.loads(fields.get("tags") or "[]")
    new_tags = updates.get("tags", old_tags)
    sets = [
        *(f"apikey:tag:{tag}" for tag in dict.fromkeys([*old_tags, *new_tags])),
        "apikey:tags:all",
        "apikey:set:active",
        "apikey:set:deleted",
    ]
    state: State = {record: ("hash", fields)}
    for name in sets:
        state[name] = ("set", sorted(await client.smembers(name)))
    before = {name: set(state[name][1]) for name in sets}
    crs_update(state, key_id, updates, NOW_ISO)
    pipe = client.pipeline(transaction=True)
    pipe.hset(record, mapping=state[record][1])
    for name in sets:
        after = set(state[name][1]) if name in state else set()
        if after - before[name]:
            pipe.sadd(name, *(after - before[name]))
        if before[name] - after:
            pipe.srem(name, *(before[name] - after))
    await pipe.execute()


async def crs_add_tag(
    client: aioredis.Redis, key_id: str, tag: str, *, read: dict[str, str] | None = None
) -> None:
    """An operator adds a tag in CRS's UI: the list it shows (as read) plus the new tag."""
    fields = read if read is not None else await client.hgetall(f"apikey:{key_id}")
    tags = json.loads(fields.get("tags") or "[]")
    await crs_update_api_key(client, key_id, {"tags": [*tags, tag]}, read=read)
