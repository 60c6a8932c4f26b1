"""CRS's own writers, acting on a live Redis the way its Node process does
(docs/crs-layout.md): the admin edit (`updateApiKey` + `updateIndex`), the whole-hash rewrite
every relayed request makes (`recordUsage`), soft delete and restore, and the index rebuild.

Each writer that reads a record before writing it can be split in two (`read_record`, then the
write with that stale copy), so a test can land CRS's write-back after keyops wrote the key,
exactly as a request that was in flight does. Node writes index sets with plain SADD/SREM after
the record, never inside a transaction; so do these.

Independent of keyops's write path (only Redis key names are shared knowledge), so a test can
judge keyops against them.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from tests.support.invariants import as_node_writes

TTL_SECONDS = 31_536_000
_SURROGATE = re.compile("[\ud800-\udfff]")


def js_now() -> str:
    """`new Date().toISOString()`."""
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def js_stringify(value: Any) -> str:
    """`JSON.stringify`: like compact JSON without ASCII escaping, except that an unpaired
    UTF-16 surrogate (a Python str holds only unpaired ones) is written as a `\\uXXXX` escape."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _tags_of(raw: str | None) -> list[str]:
    """Tags as `updateIndex` parses the old hash: bad JSON counts as no tags."""
    try:
        parsed = json.loads(raw or "[]")
    except ValueError:
        return []
    return [tag for tag in parsed if isinstance(tag, str)] if isinstance(parsed, list) else []


async def read_record(client: aioredis.Redis, key_id: str) -> dict[str, str]:
    """HGETALL, the first half of every Node read-modify-write."""
    return dict(await client.hgetall(f"apikey:{key_id}"))


async def _write_whole(client: aioredis.Redis, key_id: str, fields: Mapping[str, str]) -> None:
    """`setApiKey`: HSET every field of the (possibly stale) hash, then EXPIRE."""
    pipe = client.pipeline(transaction=False)
    pipe.hset(f"apikey:{key_id}", mapping=dict(fields))
    pipe.expire(f"apikey:{key_id}", TTL_SECONDS)
    if fields.get("apiKey"):
        pipe.hset("apikey:hash_map", fields["apiKey"], key_id)
    await pipe.execute()


async def update_api_key(
    client: aioredis.Redis,
    key_id: str,
    updates: Mapping[str, Any],
    old: Mapping[str, str] | None = None,
) -> bool:
    """`apiKeyService.updateApiKey`: merge `updates` into the hash read (now, or the stale
    `old` a slower request read), write the whole hash, then `updateIndex` from that old hash.
    False if the key does not exist (CRS throws)."""
    if old is None:
        old = await read_record(client, key_id)
    if not old:
        return False
    new = dict(old)
    for name, value in updates.items():
        if isinstance(value, list):
            new[name] = js_stringify(value)
        elif isinstance(value, bool):
            new[name] = "true" if value else "false"
        else:
            new[name] = "" if value is None else str(value)
    new["updatedAt"] = js_now()
    await _write_whole(client, key_id, new)
    await _update_index(client, key_id, updates, old)
    return True


async def _update_index(
    client: aioredis.Redis, key_id: str, updates: Mapping[str, Any], old: Mapping[str, str]
) -> None:
    if "name" in updates and str(updates["name"]).lower() != old.get("name", "").lower():
        await client.zrem("apikey:idx:name", f"{old.get('name', '').lower()}\0{key_id}")
        await client.zadd("apikey:idx:name", {f"{str(updates['name']).lower()}\0{key_id}": 0})
    if "isActive" in updates or "isDeleted" in updates:
        active = updates.get("isActive", old.get("isActive") == "true")
        deleted = updates.get("isDeleted", old.get("isDeleted") == "true")
        if deleted in (True, "true"):
            await client.sadd("apikey:set:deleted", key_id)
            await client.srem("apikey:set:active", key_id)
        elif active in (True, "true"):
            await client.sadd("apikey:set:active", key_id)
            await client.srem("apikey:set:deleted", key_id)
        else:
            await client.srem("apikey:set:active", key_id)
            await client.srem("apikey:set:deleted", key_id)
    if "tags" in updates:
        old_tags = _tags_of(old.get("tags"))
        new_tags = [tag for tag in updates["tags"] if isinstance(tag, str) and tag]
        removed = [tag for tag in old_tags if tag not in new_tags]
        for tag in removed:
            await client.srem(f"apikey:tag:{as_node_writes(tag)}", key_id)
        for tag in new_tags:
            await client.sadd(f"apikey:tag:{as_node_writes(tag)}", key_id)
            await client.sadd("apikey:tags:all", as_node_writes(tag))
        for tag in removed:
            if await client.scard(f"apikey:tag:{as_node_writes(tag)}") == 0:
                await client.srem("apikey:tags:all", as_node_writes(tag))


async def record_usage(
    client: aioredis.Redis, key_id: str, old: Mapping[str, str] | None = None
) -> bool:
    """`recordUsage` after a relayed request: the hash it read (maybe long ago) with
    `lastUsedAt` set, written back whole; `idx:lastUsedAt` follows. No `updatedAt`."""
    if old is None:
        old = await read_record(client, key_id)
    if not old:
        return False
    now = js_now()
    await _write_whole(client, key_id, {**old, "lastUsedAt": now})
    millis = int(datetime.now(UTC).timestamp() * 1000)
    await client.zadd("apikey:idx:lastUsedAt", {key_id: millis})
    return True


async def soft_delete(client: aioredis.Redis, key_id: str) -> bool:
    """`deleteApiKey`: the whole old hash plus the deletion marks, `isActive` false; the
    secret's lookups go; `set:deleted` gains it, `set:active` loses it. Tag sets keep it."""
    old = await read_record(client, key_id)
    if not old:
        return False
    fields = {
        **old,
        "isDeleted": "true",
        "deletedAt": js_now(),
        "deletedBy": "admin",
        "deletedByType": "admin",
        "isActive": "false",
    }
    pipe = client.pipeline(transaction=False)
    pipe.hset(f"apikey:{key_id}", mapping=fields)
    pipe.expire(f"apikey:{key_id}", TTL_SECONDS)
    if old.get("apiKey"):
        pipe.delete(f"apikey_hash:{old['apiKey']}")
        pipe.hdel("apikey:hash_map", old["apiKey"])
    await pipe.execute()
    await client.sadd("apikey:set:deleted", key_id)
    await client.srem("apikey:set:active", key_id)
    return True


async def restore(client: aioredis.Redis, key_id: str) -> bool:
    """`restoreApiKey`: only a soft-deleted key; it comes back active."""
    old = await read_record(client, key_id)
    if old.get("isDeleted") != "true":
        return False
    pipe = client.pipeline(transaction=False)
    pipe.hset(
        f"apikey:{key_id}",
        mapping={**old, "isActive": "true", "restoredAt": js_now(), "restoredBy": "unknown",
                 "restoredByType": "admin"},
    )  # fmt: skip
    pipe.expire(f"apikey:{key_id}", TTL_SECONDS)
    pipe.hdel(f"apikey:{key_id}", "isDeleted", "deletedAt", "deletedBy", "deletedByType")
    if old.get("apiKey"):
        pipe.hset("apikey:hash_map", old["apiKey"], key_id)
    await pipe.execute()
    await client.sadd("apikey:set:active", key_id)
    await client.srem("apikey:set:deleted", key_id)
    return True


async def rebuild_indexes(client: aioredis.Redis) -> None:
    """The admin index rebuild: every index set made again from the records (tags:all only
    from tags keys carry), then the index version."""
    records: dict[str, dict[str, str]] = {}
    async for name in client.scan_iter(match="apikey:*", count=1000, _type="hash"):
        parts = name.split(":")
        if len(parts) == 2 and parts[1] != "hash_map":
            records[parts[1]] = dict(await client.hgetall(name))
    old_sets = [name async for name in client.scan_iter(match="apikey:tag:*", count=1000)]
    sets: dict[str, set[str]] = defaultdict(set)
    names: dict[str, float] = {}
    for key_id, fields in records.items():
        sets["apikey:idx:all"].add(key_id)
        names[f"{fields.get('name', '').lower()}\0{key_id}"] = 0
        if fields.get("isDeleted") == "true":
            sets["apikey:set:deleted"].add(key_id)
        elif fields.get("isActive") == "true":
            sets["apikey:set:active"].add(key_id)
        for tag in _tags_of(fields.get("tags")):
            if tag:
                sets[f"apikey:tag:{as_node_writes(tag)}"].add(key_id)
                sets["apikey:tags:all"].add(as_node_writes(tag))
    pipe = client.pipeline(transaction=True)
    fixed = ("apikey:idx:all", "apikey:set:active", "apikey:set:deleted", "apikey:tags:all")
    pipe.delete(*fixed, "apikey:idx:name", *old_sets)
    for name, members in sets.items():
        pipe.sadd(name, *sorted(members))
    if names:
        pipe.zadd("apikey:idx:name", names)
    pipe.set("apikey:index:version", "2")
    await pipe.execute()
