"""Rotating keys: per key, in one script call, the record's `apiKey` and the `apikey:hash_map`
entry switch to the new hash, the old entry and any legacy `apikey_hash:{old}` copy go, so the
old raw key stops authenticating the moment the call returns.

The old hash is a secret too, so it never reaches Python, the journal, the audit or a log: the
script moves it (with whether it was mapped, the legacy copy and the old `updatedAt`) into a
keyops-private Redis hash, `keyops:rotate:{op}`, that expires with the operation's lease time
and is deleted when the run ends. Only a rollback reads it, inside Redis, to put every byte
back. The new hash comes from the running process, which holds it in memory only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from keyops.core.schema import layout
from keyops.core.wire.chunks import chunked
from keyops.core.wire.raw_script import Arg, RawScript

ROTATE_CHUNK = 50  # ~10 Redis calls a key; one call stays well under 10 ms
VAULT_TTL_SECONDS = 24 * 3600  # a crashed run's old hashes go by themselves


def vault_key(op_id: str) -> str:
    return f"keyops:rotate:{op_id}"


# ARGV: 1 vault key, 2 vault ttl, 3 updatedAt, 4 audit stream ('' = none), 5 op id,
# then per key: id, new hash, its audit piece (JSON).
ROTATE_LUA = """
local vault, vault_ttl, stamp, stream, op_id = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local results, rotated, pieces = {}, {}, {}
local i = 6
while i <= #ARGV do
  local key_id, digest, piece = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  i = i + 3
  local key = '@PREFIX@' .. key_id
  local status = 'rotated'
  if redis.call('TYPE', key)['ok'] ~= 'hash' then status = 'missing'
  else
    local held = redis.call('HMGET', key, 'isDeleted', 'apiKey')
    if held[1] == 'true' then status = 'deleted'
    elseif not held[2] or held[2] == '' then status = 'no-secret'
    elseif held[2] == digest or redis.call('HEXISTS', '@HASH_MAP@', digest) == 1 then
      status = 'exists'
    end
  end
  results[#results + 1] = status
  if status == 'rotated' then
    rotated[#rotated + 1] = {key_id, digest, key}
    pieces[#pieces + 1] = piece
  end
end
if #rotated == 0 then return results end
if stream ~= '' then
  redis.call('XADD', stream, '*', 'op', op_id, 'event', 'keys-rotated',
             'keys', '[' .. table.concat(pieces, ',') .. ']')
end
for _, r in ipairs(rotated) do
  local key_id, digest, key = r[1], r[2], r[3]
  local held = redis.call('HMGET', key, 'apiKey', 'updatedAt')
  local old = held[1]
  local copy = 'apikey_hash:' .. old
  local saved = {hash = old, mapped = redis.call('HGET', '@HASH_MAP@', old) == key_id,
                 updatedAt = held[2] or cjson.null, legacy = cjson.null}
  if redis.call('TYPE', copy)['ok'] == 'hash' then
    saved.legacy = redis.call('HGETALL', copy)
    redis.call('DEL', copy)
  end
  redis.call('HSET', vault, key_id, cjson.encode(saved))
  if saved.mapped then redis.call('HDEL', '@HASH_MAP@', old) end
  redis.call('HSET', '@HASH_MAP@', digest, key_id)
  redis.call('HSET', key, 'apiKey', digest, 'updatedAt', stamp)
end
redis.call('EXPIRE', vault, vault_ttl)
return results
"""

# ARGV: 1 vault key, then per key: id, the new hash this run wrote.
UNROTATE_LUA = """
local vault, results, i = ARGV[1], {}, 2
while i <= #ARGV do
  local key_id, digest = ARGV[i], ARGV[i + 1]
  i = i + 2
  local key = '@PREFIX@' .. key_id
  local text = redis.call('HGET', vault, key_id)
  if not text or redis.call('TYPE', key)['ok'] ~= 'hash'
     or redis.call('HGET', key, 'apiKey') ~= digest then
    results[#results + 1] = 'not-ours'
  else
    local saved = cjson.decode(text)
    if redis.call('HGET', '@HASH_MAP@', digest) == key_id then
      redis.call('HDEL', '@HASH_MAP@', digest)
    end
    if saved.mapped then redis.call('HSET', '@HASH_MAP@', saved.hash, key_id) end
    if type(saved.legacy) == 'table' and #saved.legacy > 0 then
      redis.call('HSET', 'apikey_hash:' .. saved.hash, unpack(saved.legacy))
    end
    redis.call('HSET', key, 'apiKey', saved.hash)
    if type(saved.updatedAt) == 'string' then
      redis.call('HSET', key, 'updatedAt', saved.updatedAt)
    else
      redis.call('HDEL', key, 'updatedAt')
    end
    redis.call('HDEL', vault, key_id)
    results[#results + 1] = 'restored'
  end
end
return results
"""
ROTATE_LUA = layout.with_layout_names(ROTATE_LUA)
UNROTATE_LUA = layout.with_layout_names(UNROTATE_LUA)


@dataclass(frozen=True, slots=True)
class Rotation:
    """A key's new secret: `digest` is kept in memory only, for the rollback."""

    key_id: str
    name: str
    digest: str


class KeyRotator:
    def __init__(self, client: aioredis.Redis, op_id: str, stamp: str, audit_stream: str) -> None:
        self._client = client
        self._rotate = RawScript(client, ROTATE_LUA)
        self._unrotate = RawScript(client, UNROTATE_LUA)
        self.vault = vault_key(op_id)
        self._header: list[Arg] = [self.vault, VAULT_TTL_SECONDS, stamp, audit_stream, op_id]

    async def rotate(self, keys: Sequence[Rotation]) -> list[str]:
        """Per key 'rotated', or why not: 'missing', 'deleted', 'no-secret', 'exists'."""
        args = list(self._header)
        for key in keys:
            piece = json.dumps({"key": key.key_id, "changes": {"secret": ["old", "new"]}})
            args.extend((key.key_id, key.digest, piece))
        return [_text(reply) for reply in await self._rotate([], args)]

    async def unrotate(self, keys: Sequence[Rotation]) -> list[str]:
        """Put the old hashes back: 'restored', or 'not-ours' (not rotated, or changed since)."""
        results: list[str] = []
        for chunk in chunked(list(keys), ROTATE_CHUNK):
            args: list[Arg] = [self.vault]
            for key in chunk:
                args.extend((key.key_id, key.digest))
            results += [_text(reply) for reply in await self._unrotate([], args)]
        return results

    async def forget(self) -> None:
        """The run is over: the old hashes go."""
        await self._client.delete(self.vault)


def _text(reply: object) -> str:
    return reply.decode() if isinstance(reply, bytes) else str(reply)
