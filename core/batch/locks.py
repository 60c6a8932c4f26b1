"""Key locks: two operators may edit disjoint keys at once, never the same key.

Each op holds a lease (`keyops:lease:{op}`, a token with a TTL renewed by a heartbeat) and
claims its keys in `keyops:keylocks` (key id -> op id). Every write script checks the lease
token first (the fence): a holder whose lease lapsed cannot write.

A claim is free again only when its op has finished: its lease is gone and its record says it
ended (or there is no record). An op whose lease is gone while its record still says running
was interrupted (killed, cut off from Redis, its lock broken by hand): its keys hold part of its
change, so they stay claimed until `ops recover` resumes it (same op id) or rolls it back (a new
op that takes the claims over). Another batch on them would make its rollback skip them as
"changed since".
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import cast

import redis.asyncio as aioredis

from keyops.core.batch import names
from keyops.core.batch.config import LOCK_TTL_MS
from keyops.core.batch.operations import OperationRecord, OperationStore, OpStatus
from keyops.core.errors import KeyopsError
from keyops.core.timestamps import CLOCK, utc_text
from keyops.core.wire.chunks import chunked
from keyops.core.wire.raw_script import RawScript

CLAIM_CHUNK = 250
CLAIM_CHUNKS_PER_CALL = 40  # 10,000 ids per round trip

# KEYS[1] keylocks hash, KEYS[2] the op's target set; ARGV: op id, the op whose claims this one
# may take over (the interrupted op a rollback undoes, or ''), then key ids. Claims all or none
# of this chunk, with one HMGET and one HSET for the whole chunk, and records the ids as the
# op's targets (what a resume continues with). Returns the ops still holding some of the ids.
# Lease and record names come from `names`, like every other.
CLAIM_LUA = (
    f"local LEASE_PREFIX = '{names.LEASE_PREFIX}'\n"
    f"local RECORD_PREFIX = '{names.OP_RECORD_PREFIX}'\n"
    f"local RUNNING = '{OpStatus.RUNNING.value}'\n"
    + """
local locks, targets, op, takes_over = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local ids = {}
for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
-- Whether `owner` still holds its claims: running (lease alive), or interrupted (no lease, its
-- record still running) and not the op this one recovers.
local function holds(owner)
  if redis.call('EXISTS', LEASE_PREFIX .. owner) == 1 then return true end
  if owner == takes_over then return false end
  local raw = redis.call('HGET', RECORD_PREFIX .. owner, 'json')
  if not raw then return false end
  local ok, record = pcall(cjson.decode, raw)
  -- A record nothing can read cannot be recovered either: its claims must not lock the keys
  -- for good.
  return ok and type(record) == 'table' and record.status == RUNNING
end
local owners = redis.call('HMGET', locks, unpack(ids))
local holders, held = {}, {}
for i, owner in ipairs(owners) do
  if owner and owner ~= op then
    if held[owner] == nil then held[owner] = holds(owner) end
    if held[owner] then holders[#holders + 1] = owner end
  end
end
if #holders > 0 then return holders end
local pairs_ = {}
for _, id in ipairs(ids) do
  pairs_[#pairs_ + 1] = id
  pairs_[#pairs_ + 1] = op
end
redis.call('HSET', locks, unpack(pairs_))
redis.call('SADD', targets, unpack(ids))
return {}
"""
)

# KEYS[1] keylocks hash; ARGV: op id, heir ('' = none), then key ids. Only what this op holds:
# freed, or handed to the heir (the interrupted op a rollback took them over from).
RELEASE_LUA = """
local locks, op, heir = KEYS[1], ARGV[1], ARGV[2]
local ids = {}
for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
local owners = redis.call('HMGET', locks, unpack(ids))
local mine = {}
for i, owner in ipairs(owners) do
  if owner == op then mine[#mine + 1] = ids[i] end
end
if #mine == 0 then return 0 end
if heir == '' then
  redis.call('HDEL', locks, unpack(mine))
else
  local pairs_ = {}
  for _, id in ipairs(mine) do
    pairs_[#pairs_ + 1] = id
    pairs_[#pairs_ + 1] = heir
  end
  redis.call('HSET', locks, unpack(pairs_))
end
return #mine
"""

# KEYS[1] lease; ARGV: token, ttl ms. Renews only our own lease.
RENEW_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS[1] lease; ARGV: token. Deletes only our own lease.
DROP_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class LockHolder:
    op_id: str
    keys_held: int
    record: OperationRecord | None
    interrupted: bool = False  # its lease is gone but it never finished: it waits for recovery

    def describe(self, now: float) -> str:
        record = self.record
        if record is None:
            return f"{self.keys_held} keys are held by operation {self.op_id}"
        since = utc_text(record.started_at, CLOCK)
        text = (
            f"{self.keys_held} of these keys are held by operation {self.op_id} "
            f"({record.type.value}: {record.summary}) run by {record.operator.label}, since {since}"
        )
        if self.interrupted:
            return text + (
                ", which was interrupted and keeps them until it is recovered: "
                f"'keyops ops recover {self.op_id} --rollback' undoes what it wrote, "
                "'--resume' finishes it"
            )
        counts = record.counts
        elapsed = now - record.started_at
        done = counts.applied + counts.already + counts.failed
        if counts.planned and done and elapsed > 0:
            left = (counts.planned - done) * elapsed / done
            text += f", about {max(1, round(left))} s left"
        return text


class LockRefused(KeyopsError):
    exit_code = 3

    def __init__(self, holders: list[LockHolder]) -> None:
        now = time.time()
        super().__init__("refused: " + "; ".join(holder.describe(now) for holder in holders))
        self.holders = holders


class KeyLock:
    def __init__(
        self, client: aioredis.Redis, op_id: str, ttl_ms: int = LOCK_TTL_MS, takes_over: str = ""
    ) -> None:
        self.client = client
        self.op_id = op_id
        # The interrupted op this one rolls back: its claims are this op's to take.
        self.takes_over = takes_over
        self.ttl_ms = ttl_ms
        self.token = ""
        self.fence = 0
        self.claimed: list[str] = []
        self._claim = RawScript(client, CLAIM_LUA)
        self._release = RawScript(client, RELEASE_LUA)
        self._renew = client.register_script(RENEW_LUA)
        self._drop = client.register_script(DROP_LUA)
        self._last_renewal = 0.0

    @property
    def lease_key(self) -> str:
        return names.lease(self.op_id)

    async def acquire(self, key_ids: list[str], ops: OperationStore) -> None:
        """Take the lease, then claim every key; on any overlap give everything back."""
        self.fence = int(await self.client.incr(names.FENCE_COUNTER))
        self.token = f"{self.fence}:{uuid.uuid4().hex}"
        # The lease exists before any claim, so nobody can mistake our claims for stale ones.
        await self.client.set(self.lease_key, self.token, px=self.ttl_ms, nx=True)
        self._last_renewal = time.monotonic()
        holders: Counter[str] = Counter()
        chunks = list(chunked(key_ids, CLAIM_CHUNK))
        # All chunks go out at once. A chunk that meets another op's claim claims nothing, and
        # on any refusal everything this op did claim is given back below.
        self.claimed = list(key_ids)
        # Sent in groups, so encoding 100,000 ids never holds the event loop (the console's
        # keys) for more than a few milliseconds at a time.
        for group in chunked(chunks, CLAIM_CHUNKS_PER_CALL):
            replies = await self._claim.call_many(
                [
                    (
                        [names.KEY_LOCKS, names.op_targets(self.op_id)],
                        [self.op_id, self.takes_over, *chunk],
                    )
                    for chunk in group
                ]
            )
            for found in replies:
                holders.update(cast(list[str], found))
        if holders:
            await self.release()
            described = []
            for op_id, count in holders.items():
                record = await ops.get(op_id)
                interrupted = (
                    record is not None
                    and record.status is OpStatus.RUNNING
                    and not await self.client.exists(names.lease(op_id))
                )
                described.append(LockHolder(op_id, count, record, interrupted))
            raise LockRefused(described)

    async def renew(self) -> bool:
        renewed = bool(await self._renew(keys=[self.lease_key], args=[self.token, self.ttl_ms]))
        if renewed:
            self._last_renewal = time.monotonic()
        return renewed

    def surely_alive(self) -> bool:
        """False once the lease may have lapsed: stop writing before Redis says so."""
        margin_ms = min(2000, self.ttl_ms / 3)
        return (time.monotonic() - self._last_renewal) * 1000 < self.ttl_ms - margin_ms

    async def release(self) -> None:
        """Give back every claim and the lease: the op has finished (or was refused). A
        rollback hands the claims it took over back to the op it undoes, still open until
        it is closed: a rollback cancelled, refused or short of some keys must not leave
        that op's keys free for another batch."""
        chunks = list(chunked(self.claimed, CLAIM_CHUNK))
        for group in chunked(chunks, CLAIM_CHUNKS_PER_CALL):
            await self._release.call_many(
                [([names.KEY_LOCKS], [self.op_id, self.takes_over, *chunk]) for chunk in group]
            )
        self.claimed = []
        await self.drop_lease()

    async def drop_lease(self) -> None:
        """Only the lease: the op stopped unfinished, so it is interrupted and its claims keep
        its keys for its recovery."""
        if self.token:
            await self._drop(keys=[self.lease_key], args=[self.token])


async def release_every_claim(client: aioredis.Redis, op_id: str, heir: str = "") -> None:
    """Free (or hand to `heir`, as `KeyLock.release`) every key an op still claims, from its
    whole target set: a resumed op claimed only the keys its first run had not reached, and an
    op closed by its rollback (a new op) never releases its own claims. Only what `op_id`
    holds (a rollback took over the rest)."""
    release = RawScript(client, RELEASE_LUA)
    cursor = 0
    while True:
        cursor, batch = await client.sscan(names.op_targets(op_id), cursor, count=CLAIM_CHUNK)
        ids = cast(list[str], batch)
        if ids:
            await release.call_many([([names.KEY_LOCKS], [op_id, heir, *ids])])
        if cursor == 0:
            return


async def heartbeat(lock: KeyLock, stop: asyncio.Event, lost: asyncio.Event) -> None:
    """Renew the lease every third of its TTL until told to stop; flag `lost` if it lapsed."""
    interval = lock.ttl_ms / 3000
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
            return
        except TimeoutError:
            pass
        try:
            if not await lock.renew():
                lost.set()
                return
        except Exception:  # a failed renewal is retried next beat; surely_alive() guards writes
            if not lock.surely_alive():
                lost.set()
                return


async def break_lock(client: aioredis.Redis, op_id: str) -> bool:
    """Delete another op's lease by hand. True if there was one. An op that had not finished is
    interrupted from then on: its keys stay claimed until it is recovered."""
    return bool(await client.delete(names.lease(op_id)))
