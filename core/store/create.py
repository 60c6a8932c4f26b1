"""Writing new keys, and taking them out again: CRS's `generateApiKey` in one script call per
chunk, and the rollback that removes every trace of what it wrote.

Per key the create script refuses an id or hash already present (nothing written for it), then
writes what CRS's create writes: the `apikey:hash_map` entry, the record with its 365-day
EXPIRE, score 0 in the four `cost_rank:*` sets, and the indexes (`idx:createdAt`,
`idx:lastUsedAt`, `idx:name`, `idx:all`, `set:active`, each tag's set and `tags:all`). The
chunk's audit entry (ids and names, never a secret) is added in the same call, so the trail
lists a key exactly when it exists.

The remove script takes a key out only while its record still holds the hash this run wrote
(known to the running process alone): the record, its hash_map entry, its rank and index
entries, and a tag from `tags:all` once no key carries it, if `tags:all` lacked it before the
run. What was there before the run is then there again, byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from keyops.core.schema import layout
from keyops.core.wire.raw_script import Arg, RawScript

# A key costs ~20 Redis calls and a 45-field HSET: on a loaded 2-core machine 500 keys held
# Redis for 177 ms in one call, so a chunk carries 10 keys (a few ms a call even there).
CREATE_CHUNK = 10

# ARGV: 1 ttl, 2 createdAt ms, 3 audit stream ('' = none), 4 op id, 5 shared field count,
# then (field, value) pairs every key of the chunk shares, a tag count, (tag set, tag member)
# pairs, then per key: id, name, stored hash, idx:name member, its audit piece (JSON).
CREATE_LUA = """
local ttl, created_ms, stream, op_id = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local shared, i = {}, 6
for f = 1, tonumber(ARGV[5]) do
  shared[#shared + 1] = ARGV[i]
  shared[#shared + 1] = ARGV[i + 1]
  i = i + 2
end
local tags = {}
local ntags = tonumber(ARGV[i])
i = i + 1
for t = 1, ntags do
  tags[t] = {ARGV[i], ARGV[i + 1]}
  i = i + 2
end
local results, pieces, created = {}, {}, {}
while i <= #ARGV do
  local key_id, name, digest, name_member, piece = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  i = i + 5
  local key = '@PREFIX@' .. key_id
  if redis.call('EXISTS', key) == 1 or redis.call('HEXISTS', '@HASH_MAP@', digest) == 1 then
    results[#results + 1] = 'exists'
  else
    results[#results + 1] = 'created'
    pieces[#pieces + 1] = piece
    created[#created + 1] = {key_id, name, digest, name_member, key}
  end
end
if #created == 0 then return results end
if stream ~= '' then
  redis.call('XADD', stream, '*', 'op', op_id, 'event', 'keys-created',
             'keys', '[' .. table.concat(pieces, ',') .. ']')
end
for _, c in ipairs(created) do
  local key_id, name, digest, name_member, key = c[1], c[2], c[3], c[4], c[5]
  redis.call('HSET', '@HASH_MAP@', digest, key_id)
  redis.call('HSET', key, 'id', key_id, 'name', name, 'apiKey', digest, unpack(shared))
  redis.call('EXPIRE', key, ttl)
  for _, period in ipairs({'today', '7days', '30days', 'all'}) do
    redis.call('ZADD', 'cost_rank:' .. period, 0, key_id)
  end
  redis.call('ZADD', '@IDX_CREATED@', created_ms, key_id)
  redis.call('ZADD', '@IDX_LAST_USED@', 0, key_id)
  redis.call('ZADD', '@IDX_NAME@', 0, name_member)
  redis.call('SADD', '@IDX_ALL@', key_id)
  redis.call('SADD', '@SET_ACTIVE@', key_id)
  redis.call('SREM', '@SET_DELETED@', key_id)
  for _, tag in ipairs(tags) do
    redis.call('SADD', tag[1], key_id)
    redis.call('SADD', '@TAGS_ALL@', tag[2])
  end
end
return results
"""

# ARGV: 1 tag count, (tag set, tag member, '1' if tags:all lacked it before the run) triples,
# then per key: id, the hash this run wrote, idx:name member.
REMOVE_LUA = """
local ntags, i, tags = tonumber(ARGV[1]), 2, {}
for t = 1, ntags do
  tags[t] = {ARGV[i], ARGV[i + 1], ARGV[i + 2] == '1'}
  i = i + 3
end
local results = {}
while i <= #ARGV do
  local key_id, digest, name_member = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  i = i + 3
  local key = '@PREFIX@' .. key_id
  if redis.call('TYPE', key)['ok'] ~= 'hash' or redis.call('HGET', key, 'apiKey') ~= digest then
    results[#results + 1] = 'not-ours'
  else
    if redis.call('HGET', '@HASH_MAP@', digest) == key_id then
      redis.call('HDEL', '@HASH_MAP@', digest)
    end
    for _, zset in ipairs({'cost_rank:today', 'cost_rank:7days', 'cost_rank:30days',
                           'cost_rank:all', '@IDX_CREATED@', '@IDX_LAST_USED@'}) do
      redis.call('ZREM', zset, key_id)
    end
    redis.call('ZREM', '@IDX_NAME@', name_member)
    for _, set in ipairs({'@IDX_ALL@', '@SET_ACTIVE@', '@SET_DELETED@'}) do
      redis.call('SREM', set, key_id)
    end
    for _, tag in ipairs(tags) do redis.call('SREM', tag[1], key_id) end
    redis.call('DEL', key)
    results[#results + 1] = 'removed'
  end
end
for _, tag in ipairs(tags) do
  if tag[3] and redis.call('SCARD', tag[1]) == 0 then redis.call('SREM', '@TAGS_ALL@', tag[2]) end
end
return results
"""

CREATE_LUA = layout.with_layout_names(CREATE_LUA)
REMOVE_LUA = layout.with_layout_names(REMOVE_LUA)


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key to create. `digest` is its stored hash: kept in memory only, for the rollback."""

    key_id: str
    name: str
    digest: str


class KeyCreator:
    """One run's writes: the shared fields and tags, and what the rollback must know."""

    def __init__(
        self,
        client: aioredis.Redis,
        shared: dict[str, str],
        tags: Sequence[str],
        created_ms: int,
        audit_stream: str,
        op_id: str,
    ) -> None:
        self._create = RawScript(client, CREATE_LUA)
        self._remove = RawScript(client, REMOVE_LUA)
        self._client = client
        self._tags = list(tags)
        self._new_tags: set[str] = set()
        header: list[Arg] = [layout.API_KEY_TTL_SECONDS, created_ms, audit_stream, op_id]
        header.append(len(shared))
        for name, value in shared.items():
            header.extend((name, value))
        header.append(len(self._tags))
        for tag in self._tags:
            header.extend((layout.tag_set(tag), layout.tag_member(tag)))
        self._header = header

    async def note_tags_before(self) -> None:
        """Which tags `tags:all` lacks before the run (the rollback takes only those out)."""
        if not self._tags:
            return
        members = [layout.tag_member(tag) for tag in self._tags]
        known = await self._client.smismember(layout.TAGS_ALL, members)
        self._new_tags = {tag for tag, there in zip(self._tags, known, strict=True) if not there}

    async def create(self, keys: Sequence[NewKey]) -> list[str]:
        """'created' or 'exists' per key (an id or hash already there: nothing written)."""
        args = list(self._header)
        for key in keys:
            piece = _audit_piece(key)
            args.extend(
                (
                    key.key_id,
                    key.name,
                    key.digest,
                    layout.name_index_member(key.name, key.key_id),
                    piece,
                )
            )
        return [_text(reply) for reply in await self._create([], args)]

    async def remove(self, keys: Sequence[NewKey]) -> list[str]:
        """'removed', or 'not-ours' for a key whose record no longer holds this run's hash."""
        results: list[str] = []
        for start in range(0, len(keys), CREATE_CHUNK):
            args: list[Arg] = [len(self._tags)]
            for tag in self._tags:
                args.extend(
                    (
                        layout.tag_set(tag),
                        layout.tag_member(tag),
                        "1" if tag in self._new_tags else "0",
                    )
                )
            for key in keys[start : start + CREATE_CHUNK]:
                args.extend(
                    (key.key_id, key.digest, layout.name_index_member(key.name, key.key_id))
                )
            results += [_text(reply) for reply in await self._remove([], args)]
        return results


def _audit_piece(key: NewKey) -> str:
    import json

    return json.dumps(
        {"key": key.key_id, "changes": {"name": [None, key.name]}}, ensure_ascii=False
    )


def _text(reply: object) -> str:
    return reply.decode() if isinstance(reply, bytes) else str(reply)
