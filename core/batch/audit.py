"""The audit trail: one Redis stream every operator shares.

Per-key entries (`event` applied / rolled-back / reapplied, `key`, `changes` = {field: [before,
after]}) are written by the apply script in the same atomic call as the change itself, so a
change and its entry cannot part. Op-level entries (op-start, op-end, lock-break) are written
here. Entries never hold the key secret: the write path never reads or writes `apiKey`.

No write trims the stream: the history is every operator's, so trimming is an explicit admin
command (`keyops audit trim`) with a preview, recorded in the trail before it removes anything.
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
from keyops.core.batch.operations import OperationRecord, OperationStore
from keyops.core.errors import BadInput
from keyops.core.safe_text import json_text, printable
from keyops.core.timestamps import iso_utc

PAGE = 1000
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

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


# The words an operation's list row shows for its kind, beyond the kinds themselves: an
# operator who reads "disable" in the list filters with type:disable.
LABEL_WORDS = frozenset({"enable", "disable", "assign", "move"})


def op_label(record: OperationRecord) -> str:
    """The kind of an operation as its row shows it: `disable` rather than `status`."""
    word = record.summary.split(maxsplit=1)[0].rstrip(",:") if record.summary else ""
    return word if word in LABEL_WORDS else record.type.value


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
        if self.op_types and not {record.type.value, op_label(record)} & self.op_types:
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


@dataclass(frozen=True, slots=True)
class TrimPreview:
    """What `audit trim` would remove: entries before `cutoff` (epoch seconds)."""

    older_than_days: int
    cutoff: float
    count: int
    oldest: float | None  # the oldest entry's time, if any would go


class AuditLog:
    def __init__(self, client: aioredis.Redis, stream: str = names.AUDIT_STREAM) -> None:
        self.client = client
        self.stream = stream

    async def op_event(self, op_id: str, event: str, detail: dict[str, Any]) -> str:
        entry_id = await self.client.xadd(
            self.stream,
            {"op": op_id, "event": event, "detail": json.dumps(detail, ensure_ascii=False)},
        )
        return str(entry_id)

    async def keys_event(
        self, event: str, keys: list[dict[str, Any]], detail: dict[str, Any]
    ) -> str:
        """An entry about keys outside any operation (a purge): `keys` as a chunk's entry lists
        them (`key`, `changes`), so `audit list --key` finds it."""
        entry_id = await self.client.xadd(
            self.stream,
            {
                "op": "",
                "event": event,
                "keys": json.dumps(keys, ensure_ascii=False),
                "detail": json.dumps(detail, ensure_ascii=False),
            },
        )
        return str(entry_id)

    async def try_op_event(self, op_id: str, event: str, detail: dict[str, Any]) -> str | None:
        try:
            return await self.op_event(op_id, event, detail)
        except RedisError:
            return None

    async def trim_preview(self, older_than_days: int) -> TrimPreview:
        """Counts the entries older than `older_than_days` (nothing is removed)."""
        if older_than_days < 1:
            raise BadInput("--older-than must be at least 1 day")
        # Before 1970 there is nothing to trim: a huge value is no error, just no cutoff.
        cutoff = max(0.0, time.time() - older_than_days * 86400.0)
        count, oldest = 0, None
        async for ids in self._ids_before(cutoff):
            if oldest is None:
                oldest = int(ids[0].split("-", 1)[0]) / 1000
            count += len(ids)
        return TrimPreview(older_than_days, cutoff, count, oldest)

    async def trim(self, preview: TrimPreview, by: dict[str, Any]) -> int:
        """Removes the entries a preview counted, recording the trim in the trail first (so
        the record of it is never among what it removes). Deletes a page at a time: each
        call stays short on a Redis the live relay shares."""
        await self.op_event(
            "",
            "audit-trim",
            {
                "by": by,
                "older_than_days": preview.older_than_days,
                "cutoff": iso_utc(preview.cutoff),
                "removed": preview.count,
            },
        )
        removed = 0
        async for ids in self._ids_before(preview.cutoff):
            removed += int(await self.client.xdel(self.stream, *ids))
        return removed

    async def _ids_before(self, cutoff: float) -> AsyncIterator[list[str]]:
        end_ms = int(cutoff * 1000) - 1
        if end_ms < 0:
            return
        start = "-"
        while True:
            page = cast(
                list[tuple[str, dict[str, str]]],
                await self.client.xrange(self.stream, min=start, max=str(end_ms), count=PAGE),
            )
            if page:
                yield [entry_id for entry_id, _ in page]
            if len(page) < PAGE:
                return
            start = "(" + page[-1][0]

    async def entries(self, filters: AuditFilter | None = None) -> AsyncIterator[AuditEntry]:
        """Oldest first, paged through XRANGE, filtered as asked."""
        filters = filters or AuditFilter()
        # Stream ids start at 0: a date before 1970 means "from the start" or "nothing yet".
        if filters.until is not None and filters.until < 0:
            return
        start = (
            "-" if filters.since is None or filters.since <= 0 else str(int(filters.since * 1000))
        )
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
                out.write(json_text(document) + "\n")
            count += 1
        return count


def spreadsheet_safe(cell: str) -> str:
    """A CSV cell a spreadsheet shows as text: one that would start a formula gets a leading
    apostrophe (the usual neutraliser; the value stays readable)."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def _csv_rows(entry: AuditEntry, stamp: str, op_type: str, operator: str) -> Iterable[list[str]]:
    base = [entry.entry_id, stamp, entry.op_id, op_type, operator, entry.event, entry.key_id]
    detail = json.dumps(entry.detail, ensure_ascii=False) if entry.detail else ""
    rows = [[*base, "", "", "", detail]] if not entry.changes else [
        [*base, name, "" if before is None else before, after or "", detail]
        for name, (before, after) in entry.changes.items()
    ]  # fmt: skip
    # A CSV is for reading (JSON lines keep exact values): control characters are shown as
    # escapes, so a terminal or a spreadsheet gets nothing it would act on.
    for row in rows:
        yield [spreadsheet_safe(printable(cell)) for cell in row]
