"""CRS's index invariants, checked straight from Redis
(docs/crs-layout.md, "Index sets and their invariants").

Independent of keyops's own index code, so it can judge both the seeder and the write path;
the CRS-written fixture passes it, which is what makes it a fair judge.
"""

from __future__ import annotations

import json
from collections import defaultdict

import redis.asyncio as aioredis


def as_node_writes(tag: str) -> str:
    """The tag as CRS's Node process names it in Redis: its Buffer writes U+FFFD for an
    unpaired UTF-16 surrogate (which a JSON escape in `tags` can hold)."""
    return tag.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


async def crs_index_problems(client: aioredis.Redis) -> list[str]:
    problems: list[str] = []
    record_names = [
        name
        async for name in client.scan_iter(match="apikey:*", count=1000, _type="hash")
        if len(name.split(":")) == 2 and name != "apikey:hash_map"
    ]
    # One round trip for every record and its TTL (the state machine test checks after every
    # step).
    pipe = client.pipeline(transaction=False)
    for name in record_names:
        pipe.hgetall(name)
        pipe.ttl(name)
    replies = await pipe.execute()
    records: dict[str, dict[str, str]] = {}
    for position, name in enumerate(record_names):
        records[name.split(":")[1]] = replies[2 * position]
        if replies[2 * position + 1] <= 0:
            problems.append(f"{name}: no TTL")
    if await client.get("apikey:index:version") != "2":
        return [*problems, "apikey:index:version is not 2"]
    all_ids = await client.smembers("apikey:idx:all")
    if all_ids != set(records):
        problems.append(f"idx:all differs from the records: {len(all_ids ^ set(records))} ids")
    active = await client.smembers("apikey:set:active")
    deleted = await client.smembers("apikey:set:deleted")
    tag_members: dict[str, set[str]] = defaultdict(set)
    names = set(await client.zrange("apikey:idx:name", 0, -1))
    for key_id, fields in records.items():
        is_deleted = fields.get("isDeleted") == "true"
        is_active = fields.get("isActive") == "true"
        if (key_id in active) != (is_active and not is_deleted):
            problems.append(f"{key_id}: set:active disagrees with isActive/isDeleted")
        if (key_id in deleted) != is_deleted:
            problems.append(f"{key_id}: set:deleted disagrees with isDeleted")
        if f"{fields.get('name', '').lower()}\x00{key_id}" not in names:
            problems.append(f"{key_id}: missing from idx:name")
        for tag in json.loads(fields.get("tags") or "[]"):
            tag_members[as_node_writes(tag)].add(key_id)
    pipe = client.pipeline(transaction=False)
    for tag in tag_members:
        pipe.smembers(f"apikey:tag:{tag}")
    for (tag, members), stored in zip(tag_members.items(), await pipe.execute(), strict=True):
        if stored != members:
            problems.append(f"apikey:tag:{tag} holds {len(stored)} ids, records say {len(members)}")
    tags_all = await client.smembers("apikey:tags:all")
    if not set(tag_members) <= tags_all:
        problems.append(f"tags:all lacks {sorted(set(tag_members) - tags_all)}")
    async for name in client.scan_iter(match="apikey:tag:*", count=1000):
        tag = name[len("apikey:tag:") :]
        if tag not in tag_members and await client.scard(name) > 0:
            problems.append(f"{name} lists ids but no record carries the tag")
    return problems
