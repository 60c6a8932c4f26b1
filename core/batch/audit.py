"""The audit trail: one Redis stream every operator shares.

Per-key entries (`event` applied / rolled-back / reapplied, `key`, `changes` = {field: [before,
after]}) are written by the apply script in the same atomic call as the change itself, so a
change and its entry cannot part. Op-level entries (op-start, op-end, lock-break) are written
here. Entries never hold the key secret: the write path never reads or writes `apiKey`.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from keyops.core.batch import names
from keyops.core.batch.config import AUDIT_RETENTION_DAYS
from keyops.core.batch.operations import OperationRecord, OperationStore
from keyops.core.timestamps import iso_utc

PAGE = 1000

EXPORT_COLUMNS = (
    "entry_id", "time", "op_id", "op_type", "operator", "event", "key_id", "field", "before",
    "after", "detail",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class AuditEntry:
    entry_id: str
    time: float
    op_id: str
    event: str
    key_id: str = ""
    changes: dict[str, list[str | None]] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_stream(cls, entry_id: str, fields: dict[str, str]) -> list[AuditEntry]:
        """One stream entry as audit entries: a chunk's entry lists every key it wrote."""
        moment = int(entry_id.split("-", 1)[0]) / 1000
        op_id, event = fields.get("op", ""), fields.get("event", "")
        detail = json.loads(fields["detail"]) if fields.get("detail") else {}
        if "keys" not in fields:
            return [cls(entry_id, moment, op_id, event, detail=detail)]
        return [
            cls(entry_id, moment, op_id, event, item["key"], item["changes"], detail)
            for item in json.loads(fields["keys"])
        ]


@dataclass(slots=True)
class AuditFilter:
    op_types: set[str] = field(default_factory=set)
    since: float | None = None
    until: float | None = None
    key_id: str | None = None
    operator: str | None = None  # substring of the operator label
    op_id: str | None = None

    def admits(self, record: OperationRecord) -> bool:
        """Whether an operation passes the type and operator filters: what an audit entry's
        operation must pass."""
        if self.op_types and record.type.value not in self.op_types:
            return False
        return not self.operator or self.operator.lower() in record.operator.label.lower()

    def admits_operation(self, record: OperationRecord) -> bool:
        """Whether an operation belongs in a filtered list of operations: type and operator,
        its id, and its start within since/until. (`key_id` needs the audit trail: the
        facade's `recent_ops` applies it.)"""
        if not self.admits(record):
            return False
        if self.op_id and record.id != self.op_id:
            return False
        if self.since is not None and record.started_at < self.since:
            return False
        return self.until is None or record.started_at <= self.until


class AuditLog:
    def __init__(
        self,
        client: aioredis.Redis,
        retention_days: int = AUDIT_RETENTION_DAYS,
        stream: str = names.AUDIT_STREAM,
    ) -> None:
        self.client = client
        self.retention_days = retention_days
        self.stream = stream

    def minid(self) -> str:
        """Entries older than the retention are trimmed (approximately) as new ones arrive."""
        return str(int((time.time() - self.retention_days * 86400) * 1000))

    async def op_event(self, op_id: str, event: str, detail: dict[str, Any]) -> str:
        entry_id = await self.client.xadd(
            self.stream,
            {"op": op_id, "event": event, "detail": json.dumps(detail, ensure_ascii=False)},
            minid=self.minid(),
            approximate=True,
        )
        return str(entry_id)

    async def try_op_event(self, op_id: str, event: str, detail: dict[str, Any]) -> str | None:
        try:
            return await self.op_event(op_id, event, detail)
        except RedisError:
            return None

    async def entries(self, filters: AuditFilter | None = None) -> AsyncIterator[AuditEntry]:
        """Oldest first, paged through XRANGE, filtered as asked."""
        filters = filters or AuditFilter()
        start = "-" if filters.since is None else str(int(filters.since * 1000))
        end = "+" if filters.until is None else str(int(filters.until * 1000))
        ops = OperationStore(self.client)
        op_cache: dict[str, OperationRecord | None] = {}
        while True:
            page = cast(
                list[tuple[str, dict[str, str]]],
                await self.client.xrange(self.stream, min=start, max=end, count=PAGE),
            )
            for entry_id, fields in page:
                for entry in AuditEntry.from_stream(entry_id, fields):
                    if await self._wanted(entry, filters, ops, op_cache):
                        yield entry
            if len(page) < PAGE:
                return
            start = "(" + page[-1][0]

    async def _wanted(
        self,
        entry: AuditEntry,
        filters: AuditFilter,
        ops: OperationStore,
        op_cache: dict[str, OperationRecord | None],
    ) -> bool:
        if filters.op_id and entry.op_id != filters.op_id:
            return False
        if filters.key_id and entry.key_id != filters.key_id:
            return False
        if not (filters.op_types or filters.operator):
            return True
        if entry.op_id not in op_cache:
            op_cache[entry.op_id] = await ops.get(entry.op_id)
        record = op_cache[entry.op_id]
        return record is not None and filters.admits(record)

    async def export(self, out: TextIO, fmt: str, filters: AuditFilter | None = None) -> int:
        """Stream matching entries as CSV (one row per changed field) or JSON lines."""
        ops = OperationStore(self.client)
        op_cache: dict[str, OperationRecord | None] = {}
        writer = csv.writer(out) if fmt == "csv" else None
        if writer is not None:
            writer.writerow(EXPORT_COLUMNS)
        count = 0
        async for entry in self.entries(filters):
            if entry.op_id not in op_cache:
                op_cache[entry.op_id] = await ops.get(entry.op_id)
            record = op_cache[entry.op_id]
            op_type = record.type.value if record else ""
            operator = record.operator.label if record else ""
            stamp = iso_utc(entry.time)
            if writer is not None:
                for row in _csv_rows(entry, stamp, op_type, operator):
                    writer.writerow(row)
            else:
                document = {
                    "entry_id": entry.entry_id,
                    "time": stamp,
                    "op_id": entry.op_id,
                    "op_type": op_type,
                    "operator": operator,
                    "event": entry.event,
                    "key_id": entry.key_id,
                    "changes": entry.changes,
                    "detail": entry.detail,
                }
                out.write(json.dumps(document, ensure_ascii=False) + "\n")
            count += 1
        return count


def _csv_rows(entry: AuditEntry, stamp: str, op_type: str, operator: str) -> Iterable[list[str]]:
    base = [entry.entry_id, stamp, entry.op_id, op_type, operator, entry.event, entry.key_id]
    detail = json.dumps(entry.detail, ensure_ascii=False) if entry.detail else ""
    if not entry.changes:
        yield [*base, "", "", "", detail]
        return
    for name, (before, after) in entry.changes.items():
        yield [*base, name, "" if before is None else before, after or "", detail]
