"""Permanent delete of soft-deleted keys: CRS's `permanentDeleteApiKey`, plus the per-key data
its purge leaves behind.

CRS's purge deletes `usage:*:{id}*` (a glob needing a colon before the id) and so leaves
`usage:{id}` (lifetime totals) and every `usage:{id}:model:*` key; the rate-limit window
(`rate_limit:*:{id}`) and concurrency keys (`concurrency:{id}`, `concurrency:queue:*:{id}`)
are left too. keyops removes every key under `usage:`, `rate_limit:` or `concurrency:` whose
name has the key's id where CRS's naming puts an id (`_ID_AFTER`; what
docs/batch-operations.md lists), found in one SCAN of the keyspace for the whole purge rather
than one per key. Any part equal to the id would not do: any id is a record to CRS, and a
soft-deleted `apikey:cost` would take every other key's `rate_limit:cost:{id}` with it, for
good.

Each key goes in one script call with its record, its index entries (`idx:*`, `set:*`, its
tag sets, `tags:all` for a tag no key carries any more), its `hash_map` entry and legacy copy
(found from the record's own `apiKey`, which never leaves Redis), its cost ranks and those
usage keys, and only while it is still soft-deleted, with the name and tags the preview read:
a key restored or edited since is left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from keyops.core.schema import layout
from keyops.core.schema.encoding import decode_tags
from keyops.core.wire.chunks import chunked
from keyops.core.wire.raw_script import Arg, RawScript

PURGE_CHUNK = 50
USAGE_PREFIXES = ("usage:", "rate_limit:", "concurrency:")

PURGE_LUA = """
local results, i = {}, 1
while i <= #ARGV do
  local key_id, name, tags = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local name_member = ARGV[i + 3]
  local ntags = tonumber(ARGV[i + 4])
  local tag_at = i + 5
  local nusage = tonumber(ARGV[tag_at + 2 * ntags])
  local usage_at = tag_at + 2 * ntags + 1
  i = usage_at + nusage
  local key = '@PREFIX@' .. key_id
  local kind = redis.call('TYPE', key)['ok']
  local status = 'purged'
  if kind == 'none' then status = 'missing'
  elseif kind ~= 'hash' then status = 'not-hash'
  else
    local held = redis.call('HMGET', key, 'isDeleted', 'name', 'tags', 'apiKey')
    if held[1] ~= 'true' then status = 'not-deleted'
    elseif (held[2] or '') ~= name or (held[3] or '') ~= tags then status = 'changed'
    else
      local digest = held[4]
      if digest and digest ~= '' then
        if redis.pcall('HGET', '@HASH_MAP@', digest) == key_id then
          redis.pcall('HDEL', '@HASH_MAP@', digest)
        end
        local copy = 'apikey_hash:' .. digest
        if redis.call('TYPE', copy)['ok'] == 'hash' then redis.pcall('DEL', copy) end
      end
      for _, zset in ipairs({'@IDX_CREATED@', '@IDX_LAST_USED@', 'cost_rank:today',
                             'cost_rank:7days', 'cost_rank:30days', 'cost_rank:all'}) do
        redis.pcall('ZREM', zset, key_id)
      end
      redis.pcall('ZREM', '@IDX_NAME@', name_member)
      for _, set in ipairs({'@IDX_ALL@', '@SET_ACTIVE@', '@SET_DELETED@'}) do
        redis.pcall('SREM', set, key_id)
      end
      for t = 0, ntags - 1 do
        local set, member = ARGV[tag_at + 2 * t], ARGV[tag_at + 2 * t + 1]
        redis.pcall('SREM', set, key_id)
        if redis.pcall('SCARD', set) == 0 then redis.pcall('SREM', '@TAGS_ALL@', member) end
      end
      for u = usage_at, usage_at + nusage - 1 do redis.pcall('DEL', ARGV[u]) end
      redis.call('DEL', key)
    end
  end
  results[#results + 1] = status
end
return results
"""
PURGE_LUA = layout.with_layout_names(PURGE_LUA)


@dataclass(frozen=True, slots=True)
class PurgeTarget:
    """A soft-deleted key as the preview read it: the purge removes it only if unchanged."""

    key_id: str
    name: str
    tags: str  # the stored `tags` field ('' when absent)
    usage_keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PurgePreview:
    targets: list[PurgeTarget]  # soft-deleted: what a purge removes
    refused: list[str]  # not soft-deleted (or not a key record): never purged

    @property
    def usage_keys(self) -> int:
        return sum(len(target.usage_keys) for target in self.targets)


async def read_purge_targets(
    client: aioredis.Redis, key_ids: Sequence[str]
) -> tuple[list[PurgeTarget], list[str]]:
    """(the soft-deleted keys with their per-key data, the ids that are not soft-deleted)."""
    wanted: dict[str, tuple[str, str]] = {}
    refused: list[str] = []
    for chunk in chunked(list(key_ids), 1000):
        pipe = client.pipeline(transaction=False)
        for key_id in chunk:
            pipe.hmget(layout.api_key(key_id), ["isDeleted", "name", "tags"])
        for key_id, reply in zip(chunk, await pipe.execute(raise_on_error=False), strict=True):
            if isinstance(reply, Exception) or reply[0] != "true":
                refused.append(key_id)
            else:
                wanted[key_id] = (reply[1] or "", reply[2] or "")
    usage = await per_key_data(client, wanted)
    targets = [
        PurgeTarget(key_id, name, tags, tuple(usage.get(key_id, ())))
        for key_id, (name, tags) in wanted.items()
    ]
    return targets, refused


# The fixed words CRS's per-key names start with, each followed by the key's id (and then
# anything: a date, a model).
_ID_AFTER: frozenset[tuple[str, ...]] = frozenset(
    tuple(prefix.split(":"))
    for prefix in (
        "usage",  # usage:{id}, usage:{id}:model:{period}:...
        "usage:daily",
        "usage:monthly",
        "usage:hourly",
        "usage:records",
        "usage:cost:daily",
        "usage:cost:monthly",
        "usage:cost:hourly",
        "usage:cost:total",
        "usage:cost:real:daily",
        "usage:cost:real:total",
        "usage:opus:weekly",
        "usage:opus:total",
        "usage:opus:real:weekly",
        "usage:opus:real:total",
        "rate_limit:window_start",
        "rate_limit:requests",
        "rate_limit:tokens",
        "rate_limit:cost",
        "concurrency",
        "concurrency:queue",
        "concurrency:queue:stats",
        "concurrency:queue:wait_times",
    )
)
# Every run of fixed words a name can start with: those above and their beginnings, and CRS's
# names that hold no key id (day indexes, per-model and per-account data, the global list).
_WORDS: frozenset[tuple[str, ...]] = frozenset(
    {prefix[:end] for prefix in _ID_AFTER for end in range(1, len(prefix) + 1)}
    | {
        tuple(prefix.split(":"))
        for prefix in (
            "usage:daily:index",
            "usage:hourly:index",
            "usage:monthly:index",
            "usage:keymodel",
            "usage:model",
            "concurrency:console_account",
            "concurrency:queue:wait_times:global",
        )
    }
)


def owner_id(name: str) -> str | None:
    """The key id in a per-key name, or None: the part after CRS's fixed words, where those
    words are followed by an id. A name whose id part is itself one of the words (a key with
    the id 'daily') is read as CRS's fixed name, so it is left rather than taken for another."""
    parts = name.split(":")
    end = 1
    while end < len(parts) and tuple(parts[: end + 1]) in _WORDS:
        end += 1
    if end < len(parts) and tuple(parts[:end]) in _ID_AFTER:
        return parts[end]
    return None


async def per_key_data(client: aioredis.Redis, key_ids: Iterable[str]) -> dict[str, list[str]]:
    """Every usage, rate-limit and concurrency key of one of these ids, by id: one SCAN."""
    ids = set(key_ids)
    found: dict[str, list[str]] = {}
    if not ids:
        return found
    async for name in client.scan_iter(count=1000):
        if not name.startswith(USAGE_PREFIXES):
            continue
        owner = owner_id(name)
        if owner is not None and owner in ids:
            found.setdefault(owner, []).append(name)
    return found


def _args(target: PurgeTarget) -> list[Arg]:
    tags = decode_tags(target.tags) if target.tags else []
    distinct = list(dict.fromkeys(tags))
    args: list[Arg] = [
        target.key_id,
        target.name,
        target.tags,
        layout.name_index_member(target.name, target.key_id),
        len(distinct),
    ]
    for tag in distinct:
        args.extend((layout.tag_set(tag), layout.tag_member(tag)))
    args.append(len(target.usage_keys))
    args.extend(target.usage_keys)
    return args


async def purge(client: aioredis.Redis, targets: Sequence[PurgeTarget]) -> dict[str, str]:
    """Purge chunk by chunk; key id -> 'purged', 'not-deleted', 'changed', 'missing' or
    'not-hash' (nothing removed for those)."""
    script = RawScript(client, PURGE_LUA)
    outcome: dict[str, str] = {}
    for chunk in chunked(list(targets), PURGE_CHUNK):
        args: list[Arg] = [arg for target in chunk for arg in _args(target)]
        replies = await script([], args)
        for target, reply in zip(chunk, replies, strict=True):
            outcome[target.key_id] = reply.decode() if isinstance(reply, bytes) else str(reply)
    return outcome
