"""Writing a CRS-shaped dataset into Redis: records first, then the indexes built from them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import redis.asyncio as aioredis

from keyops.core.schema import layout
from keyops.core.schema.bindings import Binding, BindingKind, format_binding
from keyops.core.schema.platforms import BindingField, GroupPlatform, Platform, field_for_account
from keyops.core.seeding.generate import generate_keys
from keyops.core.seeding.indexes import build_indexes
from keyops.core.seeding.sample import SampleData, load_sample

WRITE_CHUNK = 1000

# Called as (phase, done, total) while seeding: phase "keys" after each chunk of key records,
# then "indexes" once before the index sets go out (one pipeline).
SeedProgress = Callable[[str, int, int], None]


def _batches(items: list[Any], size: int = WRITE_CHUNK) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _chunks(items: Iterable[Any], size: int = WRITE_CHUNK) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def binding_choices(sample: SampleData) -> dict[BindingField, list[str]]:
    """Binding strings that point at the sample's real accounts and groups."""
    choices: dict[BindingField, list[str]] = {field: [] for field in BindingField}
    for name, entry in sample.other_entries.items():
        for platform_prefix, platform in (
            ("claude_console_account:", Platform.CLAUDE_CONSOLE),
            ("gemini_api_account:", Platform.GEMINI_API),
            ("openai_responses_account:", Platform.OPENAI_RESPONSES),
            ("bedrock_account:", Platform.BEDROCK),
        ):
            rest = name[len(platform_prefix) :]
            if name.startswith(platform_prefix) and ":" not in rest and entry["type"] != "set":
                target = field_for_account(platform)
                assert target is not None
                choices[target].append(
                    format_binding(Binding(target, BindingKind.ACCOUNT, platform, rest))
                )
        if name.startswith(layout.ACCOUNT_GROUP_PREFIX) and entry["type"] == "hash":
            platform_name = entry["value"].get("platform", "")
            if platform_name in set(GroupPlatform):
                group_platform = GroupPlatform(platform_name)
                target = {
                    GroupPlatform.CLAUDE: BindingField.CLAUDE,
                    GroupPlatform.GEMINI: BindingField.GEMINI,
                    GroupPlatform.OPENAI: BindingField.OPENAI,
                    GroupPlatform.DROID: BindingField.DROID,
                }[group_platform]
                group_id = name[len(layout.ACCOUNT_GROUP_PREFIX) :]
                choices[target].append(
                    format_binding(Binding(target, BindingKind.GROUP, group_platform, group_id))
                )
    return choices


async def write_entries(client: aioredis.Redis, entries: Mapping[str, Mapping[str, Any]]) -> None:
    """Entries of a dump ({"type", "value", optional "ttl"}) written as they were."""
    pipe = client.pipeline(transaction=False)
    for name, entry in entries.items():
        kind, value = entry["type"], entry["value"]
        if kind == "hash":
            pipe.hset(name, mapping=value)
        elif kind == "set":
            pipe.sadd(name, *value)
        elif kind == "zset":
            pipe.zadd(name, {member: score for member, score in value})
        elif kind == "string":
            pipe.set(name, value)
        elif kind == "list":
            pipe.rpush(name, *value)
        if entry.get("ttl"):
            pipe.expire(name, entry["ttl"])
    await pipe.execute()


async def write_key_records(
    client: aioredis.Redis,
    records: Iterable[tuple[str, Mapping[str, str]]],
    progress: SeedProgress | None = None,
    total: int = 0,
) -> dict[str, Mapping[str, str]]:
    """Writes the records a chunk at a time as they come (generating 50,000 keys takes
    seconds: progress starts with the first chunk, not after all of them) and returns them."""
    written: dict[str, Mapping[str, str]] = {}
    for batch in _chunks(records):
        pipe = client.pipeline(transaction=False)
        for key_id, fields in batch:
            pipe.hset(layout.api_key(key_id), mapping=dict(fields))
            pipe.expire(layout.api_key(key_id), layout.API_KEY_TTL_SECONDS)
        await pipe.execute()
        written.update(batch)
        if progress is not None:
            progress("keys", len(written), max(total, len(written)))
    return written


async def write_indexes(client: aioredis.Redis, records: Mapping[str, Mapping[str, str]]) -> None:
    indexes = build_indexes(records)
    pipe = client.pipeline(transaction=False)
    for name, members in indexes.sets.items():
        for batch in _batches(sorted(members)):
            pipe.sadd(name, *batch)
    for name, scores in indexes.zsets.items():
        for batch in _batches(sorted(scores.items())):
            pipe.zadd(name, dict(batch))
    for batch in _batches(sorted(indexes.hash_map.items())):
        pipe.hset(layout.HASH_MAP, mapping=dict(batch))
    pipe.set(layout.INDEX_VERSION, str(layout.INDEX_READY_VERSION))
    await pipe.execute()


def seed_records(
    key_count: int, *, seed: int = 7, now: datetime | None = None, sample: SampleData | None = None
) -> Iterator[tuple[str, dict[str, str]]]:
    """The key records a seed of `key_count` writes, generated as they are consumed: the
    sample's hand-made keys first, then generated ones. Key ids depend only on `seed` and the
    count, never on `now`."""
    sample = sample or load_sample()
    hand_made = list(sample.key_records.items())[:key_count]
    yield from ((key_id, dict(fields)) for key_id, fields in hand_made)
    now = now or datetime.now(UTC)
    choices = binding_choices(sample)
    yield from generate_keys(
        max(0, key_count - len(hand_made)), seed=seed, now=now, binding_choices=choices
    )


async def seed_dataset(
    client: aioredis.Redis,
    key_count: int,
    *,
    seed: int = 7,
    now: datetime | None = None,
    progress: SeedProgress | None = None,
) -> int:
    """The sample's accounts and groups plus exactly `key_count` keys (hand-made ones first)."""
    sample = load_sample()
    if progress is not None:
        progress("keys", 0, key_count)
    await write_entries(client, sample.other_entries)
    records = await write_key_records(
        client, seed_records(key_count, seed=seed, now=now, sample=sample), progress, key_count
    )
    if progress is not None:
        progress("indexes", len(records), len(records))
    await write_indexes(client, records)
    return len(records)
