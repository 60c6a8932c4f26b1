"""Operation records: what an op is, who runs it, where it got to, how it ended."""

from __future__ import annotations

import json
import time
import uuid
from enum import StrEnum
from typing import Any, cast

import redis.asyncio as aioredis
from pydantic import BaseModel, Field

from keyops.core.batch import names
from keyops.core.batch.identity import OperatorIdentity
from keyops.core.batch.interrupted import interrupted_ids
from keyops.core.edits.registry import OpType


class OpStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"  # every planned key written and verified
    PARTIAL = "partial"  # best-effort run with failures, or drift left after verify
    ROLLED_BACK = "rolled_back"
    CANCELLED = "cancelled"
    REFUSED = "refused"  # a lock or the audit refused it before anything was written

    @property
    def finished(self) -> bool:
        return self is not OpStatus.RUNNING


class OpCounts(BaseModel):
    planned: int = 0
    applied: int = 0
    already: int = 0
    failed: int = 0
    skipped: int = 0
    rolled_back: int = 0
    drifting: int = 0
    reapplied: int = 0

    def count_written(self, written: int) -> None:
        """At the end of a run, `applied` becomes `written`, the keys the op's journal holds:
        a key this op wrote counts once as applied, also when the resend of a chunk in doubt
        brought it back `already` (the resend's `already` is taken back)."""
        resent = written - self.applied
        self.applied = written
        if resent > 0:
            self.already = max(0, self.already - resent)


class OperationRecord(BaseModel):
    id: str
    type: OpType
    status: OpStatus = OpStatus.RUNNING
    summary: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    operator: OperatorIdentity
    started_at: float = Field(default_factory=time.time)
    finished_at: float | None = None
    heartbeat_at: float | None = None
    atomic: bool = True
    fence: int = 0
    counts: OpCounts = Field(default_factory=OpCounts)
    reverts: str = ""  # the op this one reverts or rolls back
    message: str = ""
    # Keys its first plan skipped: they are not among its targets, so a resume, which plans
    # the targets again, adds its own skips to these.
    plan_skipped: int = 0
    # A rollback of what it wrote has begun (its own, after a failure or cancel, or a
    # recovery's): finishing it means finishing that rollback, never writing the rest.
    undoing: bool = False

    @classmethod
    def from_redis(cls, raw: dict[str, str]) -> OperationRecord:
        return cls.model_validate_json(raw["json"])


def new_op_id() -> str:
    # Time-ordered and readable: 20261127-031522-3f9c1a
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]


class OperationStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client

    async def save(self, record: OperationRecord) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(names.op_record(record.id), "json", record.model_dump_json())
        pipe.zadd(names.OPS_INDEX, {record.id: int(record.started_at * 1000)})
        await pipe.execute()

    async def get(self, op_id: str) -> OperationRecord | None:
        """The record as saved; a running (or interrupted) op's `applied` is read from its
        journal, since the count in the record is saved only now and then while it runs."""
        raw = cast(dict[str, str], await self.client.hgetall(names.op_record(op_id)))
        if not raw:
            return None
        record = OperationRecord.from_redis(raw)
        if record.status is OpStatus.RUNNING:
            record.counts.applied = await self.written(op_id)
        return record

    async def recent(self, limit: int = 50) -> list[OperationRecord]:
        ids = cast(list[str], await self.client.zrevrange(names.OPS_INDEX, 0, limit - 1))
        records = [await self.get(op_id) for op_id in ids]
        return [record for record in records if record is not None]

    async def unfinished(self) -> list[OperationRecord]:
        """Ops marked running whose lock lease is gone (their process died or lost Redis),
        newest first; only their records are parsed (`interrupted_ids` finds them)."""
        found: list[OperationRecord] = []
        for op_id in await interrupted_ids(self.client):
            record = await self.get(op_id)  # parsed, with its journal's count
            if record is not None and record.status is OpStatus.RUNNING:
                found.append(record)
        return found

    async def written(self, op_id: str) -> int:
        """How many keys the op wrote: its journal holds one entry per key, written in the
        same atomic call as the key itself."""
        return int(await self.client.hlen(names.op_journal(op_id)))

    async def journaled(self, op_id: str) -> set[str]:
        """The ids of the keys the op wrote."""
        members: set[str] = set()
        cursor = 0
        while True:
            # (HSCAN NOVALUES needs Redis 7.4; keyops supports older servers.)
            cursor, batch = await self.client.hscan(names.op_journal(op_id), cursor, count=1000)
            members.update(cast(dict[str, str], batch))
            if cursor == 0:
                return members

    async def targets(self, op_id: str) -> set[str]:
        members: set[str] = set()
        cursor = 0
        while True:
            cursor, batch = await self.client.sscan(names.op_targets(op_id), cursor, count=1000)
            members.update(cast(list[str], batch))
            if cursor == 0:
                return members

    async def journal(self, op_id: str) -> dict[str, dict[str, list[str | None]]]:
        """key id -> {field: [before, after]} for every key the op wrote."""
        entries: dict[str, dict[str, list[str | None]]] = {}
        cursor = 0
        while True:
            cursor, batch = await self.client.hscan(names.op_journal(op_id), cursor, count=1000)
            for key_id, entry in cast(dict[str, str], batch).items():
                entries[key_id] = json.loads(entry)["changes"]
            if cursor == 0:
                return entries
