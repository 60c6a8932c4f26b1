"""Running a planned batch: audit, lock, journal + apply in chunks, verify, roll back, report.

Every chunk is one apply-script call that checks our lease (fence), compare-and-sets each key's
planned fields, journals their before-values and appends the audit entries, all atomically. A
chunk whose outcome is unknown (timeout, dropped connection) is simply sent again: keys it did
write come back `already`, so nothing is applied or audited twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from keyops.core.batch import names
from keyops.core.batch.audit import AuditLog
from keyops.core.batch.identity import OperatorIdentity
from keyops.core.batch.locks import KeyLock, LockRefused, heartbeat
from keyops.core.batch.operations import (
    OperationRecord,
    OperationStore,
    OpStatus,
    OpType,
    new_op_id,
)
from keyops.core.batch.planning import BatchPlan, Skip, plan_revert
from keyops.core.batch.progress import KeyFailure, Outcome, Phase, ProgressEvent
from keyops.core.schema.writes import KeyWritePlan
from keyops.core.store.apply import ApplyResult, ApplyStatus, ChunksInDoubt, KeyWriter, WriteContext
from keyops.core.store.key_table import LOAD_CHUNK, chunked, read_current, read_fields

log = logging.getLogger("keyops.batch")

# 500 keys a call keeps each script well under 10 ms (the live relay shares this Redis); see
# bench/batch_tags.py for the measured longest call.
CHUNK_SIZE = 100

ChunkHook = Callable[[int], Awaitable[None]]


@dataclass(slots=True)
class RunnerSettings:
    chunk_size: int = CHUNK_SIZE
    audit_policy: str = "block"  # or "warn"
    # How long after writing a key verify re-reads it: every CRS rewrite that read the key
    # before keyops wrote it must have landed by then. CRS's rewrite (recordUsage: HGETALL, set
    # lastUsedAt, HSET the whole hash, with only JavaScript between read and write) measured
    # 0.5 ms typical in Node; the longest window at a busy relay's rate (100-300 rewrites/s,
    # also with both cores of the host kept busy) was 72 ms, so 250 ms leaves over 3x. Only a
    # relay whose event loop is saturated stretches windows to its backlog (170-265 ms at 64
    # rewrites in flight): no fixed wait covers that. bench/crs_rewrite_window.py measures it.
    verify_delay: float = 0.25
    verify_rounds: int = 3
    conflict_retries: int = 2
    transient_retries: int = 3
    lock_ttl_ms: int = 30_000
    # Test seam: awaited before each chunk is written (fault injection, concurrent writers).
    before_chunk: ChunkHook | None = None


@dataclass(slots=True)
class _Run:
    record: OperationRecord
    plan: BatchPlan
    lock: KeyLock
    context: WriteContext
    written: dict[str, KeyWritePlan] = field(default_factory=dict)
    failures: list[KeyFailure] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    warnings: list[str] = field(default_factory=list)
    not_rolled_back: list[KeyFailure] = field(default_factory=list)
    last_write: float = 0.0
    last_save: float = 0.0
    # (number of keys written, when): verify reads a key once verify_delay has passed since
    # its own chunk was written, so most of a big batch is checked while the rest ages.
    write_marks: list[tuple[int, float]] = field(default_factory=list)
    pending_events: list[KeyFailure] = field(default_factory=list)

    def drain_events(self) -> tuple[KeyFailure, ...]:
        events, self.pending_events = tuple(self.pending_events), []
        return events


class BatchRunner:
    def __init__(
        self,
        client: aioredis.Redis,
        identity: OperatorIdentity,
        audit: AuditLog,
        settings: RunnerSettings | None = None,
    ) -> None:
        self.client = client
        self.identity = identity
        self.audit = audit
        self.settings = settings or RunnerSettings()
        self.ops = OperationStore(client)
        self.writer = KeyWriter(client)

    async def execute(
        self,
        plan: BatchPlan,
        cancel: asyncio.Event | None = None,
        resume: OperationRecord | None = None,
    ) -> AsyncIterator[ProgressEvent]:
        cancel = cancel or asyncio.Event()
        record = resume or OperationRecord(
            id=new_op_id(),
            type=plan.op_type,
            summary=plan.summary,
            params=plan.params,
            operator=self.identity,
            atomic=plan.atomic,
            reverts=plan.reverts,
        )
        counts = record.counts
        counts.planned = len(plan.plans) + (counts.applied if resume else 0)
        counts.skipped = len(plan.skipped)
        total = len(plan.plans)
        log.info(
            "op %s %s by %s: %s; %d keys to write (%s)",
            record.id, "resumed" if resume else "started", record.operator.label, plan.summary,
            total, "atomic" if plan.atomic else "best effort",
        )  # fmt: skip
        yield ProgressEvent(record.id, Phase.PLANNED, 0, total, message=plan.summary)

        try:
            await self.audit.op_event(
                record.id, "op-resume" if resume else "op-start", self._op_detail(record, plan)
            )
        except RedisError as error:
            if self.settings.audit_policy == "block":
                record.status = OpStatus.REFUSED
                record.message = f"the audit trail cannot be written ({error}); nothing was changed"
                yield self._final(
                    record, total, Outcome(record.id, record.status, counts, message=record.message)
                )
                return
            record.message = f"warning: the audit trail cannot be written ({error})"
        await self.ops.save(record)
        if not plan.plans:
            record.status, record.finished_at = OpStatus.DONE, time.time()
            await self._finish(record)
            yield self._final(
                record,
                total,
                Outcome(record.id, record.status, counts, message="nothing to change"),
            )
            return

        lock = KeyLock(self.client, record.id, self.settings.lock_ttl_ms)
        yield ProgressEvent(record.id, Phase.LOCKING, 0, total, message=f"locking {total} keys")
        try:
            await lock.acquire([p.key_id for p in plan.plans], self.ops)
        except LockRefused as refused:
            record.status, record.message, record.finished_at = (
                OpStatus.REFUSED,
                str(refused),
                time.time(),
            )
            await self._finish(record)
            yield self._final(
                record,
                total,
                Outcome(
                    record.id, record.status, counts, message=str(refused), refused_by_lock=True
                ),
            )
            return
        record.fence = lock.fence
        await self.ops.save(record)
        context = WriteContext(
            lease_key=lock.lease_key,
            lease_token=lock.token,
            journal_key=names.op_journal(record.id),
            audit_stream=self.audit.stream,
            audit_minid=self.audit.minid(),
            op_id=record.id,
            event="applied",
            audit_required=self.settings.audit_policy == "block",
        )
        run = _Run(record, plan, lock, context)
        stop_beat, lost = asyncio.Event(), asyncio.Event()
        beat = asyncio.create_task(heartbeat(lock, stop_beat, lost))
        # The outcome goes out only after the lock is released: a caller that stops reading
        # (or a console that quits) at the outcome must not leave the keys claimed.
        final: ProgressEvent | None = None
        try:
            async for event in self._apply(run, cancel, lost):
                yield event
            async for event in self._conclude(run, cancel):
                if event.outcome is not None:
                    final = event  # the last event: it waits for the release below
                    continue
                yield event
        except (RedisError, OSError) as error:
            # Redis went away for longer than our retries: leave the op for recovery.
            record.message = f"interrupted: {error}; run 'keyops ops recover {record.id}'"
            await self._try_save(record)
            final = self._final(
                record,
                total,
                Outcome(
                    record.id, OpStatus.RUNNING, counts, tuple(run.failures), message=record.message
                ),
            )
        finally:
            stop_beat.set()
            await asyncio.gather(beat, return_exceptions=True)
            with contextlib.suppress(RedisError, OSError):  # the lease expires by itself
                await lock.release()
        if final is not None:
            yield final

    # -- applying ---------------------------------------------------------------------------

    async def _apply(
        self, run: _Run, cancel: asyncio.Event, lost: asyncio.Event
    ) -> AsyncIterator[ProgressEvent]:
        record, counts = run.record, run.record.counts
        stop = False

        async def chunks() -> AsyncIterator[list[KeyWritePlan]]:
            """The chunks to send, checked one by one at the boundary before each is sent."""
            nonlocal stop
            for index, chunk in enumerate(chunked(run.plan.plans, self.settings.chunk_size)):
                if stop:
                    return
                if cancel.is_set():
                    record.message = "cancelled by the operator"
                    return
                if lost.is_set() or not run.lock.surely_alive():
                    record.message = "the lock lapsed (Redis unreachable for longer than its TTL); stopped writing"
                    run.failures.append(KeyFailure("", "", record.message))
                    return
                if self.settings.before_chunk is not None:
                    try:
                        await self.settings.before_chunk(index)
                    except Exception as error:  # injected or real: the chunk is not written
                        failure = KeyFailure(
                            "", "", f"chunk {index + 1} failed before writing: {error}"
                        )
                        run.failures.append(failure)
                        run.pending_events.append(failure)
                        counts.failed += len(chunk)
                        if run.plan.atomic:
                            return
                        continue
                yield chunk

        try:
            async for chunk, results in self.writer.pipelined(chunks(), run.context):
                run.last_write = time.monotonic()
                new_failures = await self._settle(run, chunk, results)
                run.write_marks.append((len(run.written), run.last_write))
                # The op record (progress other operators see when refused) is saved once a
                # second: a save waits behind the chunk Redis is running, so saving after every
                # chunk stalled the pipeline.
                if run.last_write - run.last_save >= 1.0:
                    run.last_save = run.last_write
                    await self._try_save(record)
                yield self._progress(run, Phase.APPLYING, (*run.drain_events(), *new_failures))
                if (run.plan.atomic and run.failures) or any(
                    f.reason.startswith(("audit", "lock")) for f in new_failures
                ):
                    stop = True
        except ChunksInDoubt as doubt:
            # The connection failed with chunks in flight: resend them (compare-and-set makes
            # a resend of an applied chunk come back `already`), then go on chunk by chunk.
            for chunk in doubt.chunks:
                new_failures = await self._write_chunk(run, chunk)
                yield self._progress(run, Phase.APPLYING, tuple(new_failures))
            sent = set(run.written) | {f.key_id for f in run.failures}
            rest = [plan for plan in run.plan.plans if plan.key_id not in sent]
            async for event in self._apply_rest(run, rest, cancel, lost):
                yield event
        if run.pending_events:
            yield self._progress(run, Phase.APPLYING, run.drain_events())

    async def _apply_rest(
        self, run: _Run, plans: list[KeyWritePlan], cancel: asyncio.Event, lost: asyncio.Event
    ) -> AsyncIterator[ProgressEvent]:
        """After a connection failure: the remaining chunks, one call at a time."""
        for chunk in chunked(plans, self.settings.chunk_size):
            if cancel.is_set() or lost.is_set() or not run.lock.surely_alive():
                run.record.message = run.record.message or "stopped after a connection failure"
                return
            new_failures = await self._write_chunk(run, chunk)
            yield self._progress(run, Phase.APPLYING, tuple(new_failures))
            if run.plan.atomic and run.failures:
                return

    async def _write_chunk(self, run: _Run, chunk: list[KeyWritePlan]) -> list[KeyFailure]:
        return await self._settle(run, chunk, await self._send(run, chunk))

    async def _settle(
        self, run: _Run, chunk: list[KeyWritePlan], first_results: list[ApplyResult]
    ) -> list[KeyFailure]:
        """Count a chunk's results; re-plan and resend keys whose fields moved meanwhile."""
        counts = run.record.counts
        failures: list[KeyFailure] = []
        pending = list(chunk)
        for attempt in range(self.settings.conflict_retries + 1):
            results = first_results if attempt == 0 else await self._send(run, pending)
            retry: list[str] = []
            for plan, result in zip(pending, results, strict=True):
                status = result.status
                if status.wrote or status is ApplyStatus.ALREADY:
                    run.written[plan.key_id] = plan
                    run.done += 1
                    if status is ApplyStatus.ALREADY:
                        counts.already += 1
                    else:
                        counts.applied += 1
                    if status is ApplyStatus.INDEX_ERROR:
                        run.warnings.append(
                            f"{plan.key_id}: index set {result.detail} has the wrong type"
                        )
                elif status is ApplyStatus.CONFLICT and attempt < self.settings.conflict_retries:
                    retry.append(plan.key_id)
                elif status is ApplyStatus.MISSING:
                    # Deleted since it was listed: nothing to change and nothing lost, so the
                    # key is skipped rather than failing (and rolling back) the whole batch.
                    counts.skipped += 1
                    run.done += 1
                    run.warnings.append(f"{plan.key_id}: deleted before keyops reached it; skipped")
                else:
                    failures.append(self._failure(run, plan.key_id, result))
                    counts.failed += 1
                    run.done += 1
            if not retry:
                break
            # A field moved between planning and writing: decide again on what is there now.
            await asyncio.sleep(0.01 * (attempt + 1))
            current = await read_current(self.client, retry, run.plan.read_fields)
            pending = []
            for key_id in retry:
                stored = current.get(key_id)
                decision = (
                    run.plan.decide_on(key_id, stored, "damaged since it was planned")
                    if stored is not None
                    else Skip("the key no longer exists")
                )
                if isinstance(decision, Skip):
                    failures.append(KeyFailure(key_id, run.plan.name(key_id), decision.reason))
                    counts.failed += 1
                    run.done += 1
                elif decision.is_noop:
                    run.done += 1
                    counts.already += 1
                else:
                    pending.append(decision)
            if not pending:
                break
        run.failures.extend(failures)
        return failures

    async def _send(
        self, run: _Run, plans: list[KeyWritePlan], context: WriteContext | None = None
    ) -> list[ApplyResult]:
        """One script call; an unknown outcome (timeout, dropped link) is resolved by resending."""
        for attempt in range(self.settings.transient_retries + 1):
            try:
                results = await self.writer.apply_chunk(plans, context or run.context)
                run.last_write = time.monotonic()
                return results
            except (RedisConnectionError, RedisTimeoutError, OSError):
                if attempt == self.settings.transient_retries or not run.lock.surely_alive():
                    raise
                await asyncio.sleep(min(2.0, 0.1 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def _failure(self, run: _Run, key_id: str, result: ApplyResult) -> KeyFailure:
        name = run.plan.name(key_id)
        status = result.status
        if status is ApplyStatus.CONFLICT:
            return KeyFailure(
                key_id,
                name,
                f"{result.detail} kept changing while keyops wrote it",
                "CRS or another tool is editing this key; retry when it is quiet",
            )
        if status is ApplyStatus.MISSING:
            return KeyFailure(key_id, name, "the key was deleted meanwhile", "nothing to do")
        if status is ApplyStatus.NOT_HASH:
            return KeyFailure(
                key_id, name, "the key is not a hash", "inspect it; CRS cannot use it either"
            )
        if status is ApplyStatus.AUDIT_FAILED:
            return KeyFailure(
                key_id,
                name,
                f"audit entry could not be written: {result.detail}",
                "free memory or fix permissions for keyops:audit, then retry",
            )
        if status is ApplyStatus.LOCK_LOST:
            return KeyFailure(
                key_id, name, "lock lapsed before this chunk", "run the operation again"
            )
        return KeyFailure(key_id, name, status.value)

    # -- finishing --------------------------------------------------------------------------

    async def _conclude(self, run: _Run, cancel: asyncio.Event) -> AsyncIterator[ProgressEvent]:
        record, counts = run.record, run.record.counts
        total = len(run.plan.plans)
        if run.plan.atomic and (run.failures or cancel.is_set()):
            async for event in self._rollback(run):
                yield event
            status = (
                OpStatus.CANCELLED if cancel.is_set() and not run.failures else OpStatus.ROLLED_BACK
            )
            if run.failures and not record.message:
                record.message = (
                    f"{len(run.failures)} failures: rolled back every key already written"
                )
            elif cancel.is_set():
                record.message = "cancelled: rolled back every key already written"
            if run.not_rolled_back:
                # Some keys still hold the change (Redis refused the undo, e.g. out of memory):
                # the op stays open, so recovery finishes the rollback from the journal.
                status = OpStatus.RUNNING
                record.message = (
                    f"the rollback could not finish: {len(run.not_rolled_back)} keys still hold "
                    f"the change ({run.not_rolled_back[0].reason}); once the cause is fixed run "
                    f"'keyops ops recover {record.id} --rollback'"
                )
            record.status = status
            await self._finish(record)
            yield self._final(record, total, self._outcome(run))
            return
        drifting: list[KeyFailure] = []
        if run.written:
            yield self._progress(
                run, Phase.VERIFYING, (), message=f"verifying {len(run.written)} keys"
            )
            drifting = await self._verify(run)
        counts.drifting = len(drifting)
        if cancel.is_set():
            record.status = OpStatus.CANCELLED
            record.message = record.message or f"cancelled: {counts.applied} keys written were kept"
        elif run.failures or drifting:
            record.status = OpStatus.PARTIAL
        else:
            record.status = OpStatus.DONE
        await self._finish(record)
        yield self._final(record, total, self._outcome(run, drifting))

    async def _verify(self, run: _Run) -> list[KeyFailure]:
        """Re-read every written key; re-apply what CRS's whole-hash rewrites put back."""
        suspects: list[KeyWritePlan] = list(run.written.values())
        drifting: dict[str, KeyFailure] = {}
        checked = tuple(sorted({w.field for p in suspects for w in p.fields} - {"updatedAt"}))
        for round_number in range(self.settings.verify_rounds):
            # CRS's in-flight requests get verify_delay after a key's write to write it back.
            batches = [suspects]
            if round_number == 0:
                aged_before = time.monotonic() - self.settings.verify_delay
                aged = max(
                    (count for count, when in run.write_marks if when <= aged_before), default=0
                )
                batches = [suspects[:aged], suspects[aged:]]
            reverted: list[KeyWritePlan] = []
            drifting = {}
            for batch in batches:
                if batch is not batches[0] or len(batches) == 1:
                    await asyncio.sleep(
                        max(0.0, self.settings.verify_delay - (time.monotonic() - run.last_write))
                    )
                await self._verify_batch(run, batch, checked, reverted, drifting)
            if not reverted:
                break
            context = replace(run.context, event="reapplied")
            results = [
                result
                for part in chunked(reverted, self.settings.chunk_size)
                for result in await self._send(run, part, context)
            ]
            run.record.counts.reapplied += sum(1 for r in results if r.status.wrote)
            suspects = reverted
            for plan, result in zip(reverted, results, strict=True):
                if not (result.status.wrote or result.status is ApplyStatus.ALREADY):
                    drifting[plan.key_id] = self._failure(run, plan.key_id, result)
        else:
            for plan in suspects:
                drifting.setdefault(
                    plan.key_id,
                    KeyFailure(
                        plan.key_id,
                        run.plan.name(plan.key_id),
                        "CRS keeps rewriting this key with old values",
                        "retry when its traffic is quiet",
                    ),
                )
        return list(drifting.values())

    async def _verify_batch(
        self,
        run: _Run,
        plans: list[KeyWritePlan],
        checked: tuple[str, ...],
        reverted: list[KeyWritePlan],
        drifting: dict[str, KeyFailure],
    ) -> None:
        """Read and judge chunk by chunk: holding every key's fields at once would be the
        largest allocation of a 100,000-key batch."""
        chunks = list(chunked(plans, LOAD_CHUNK))
        ids = [[plan.key_id for plan in chunk] for chunk in chunks]
        position = 0
        single = checked[0] if len(checked) == 1 else None
        async for _, replies in read_fields(self.client, ids, checked):
            for plan, reply in zip(chunks[position], replies, strict=True):
                if single is not None and not isinstance(reply, Exception):
                    # The common case, one field written: compare without building a dict.
                    write = next(w for w in plan.fields if w.field == single)
                    if reply[0] == write.after:
                        continue
                stored = (
                    {}
                    if isinstance(reply, Exception)
                    else {name: value for name, value in zip(checked, reply, strict=True)}
                )
                wrong = [
                    w
                    for w in plan.fields
                    if w.field != "updatedAt" and stored.get(w.field) != w.after
                ]
                if not wrong:
                    continue
                if all(stored.get(w.field) == w.before for w in wrong):
                    reverted.append(plan)
                else:
                    drifting[plan.key_id] = KeyFailure(
                        plan.key_id,
                        run.plan.name(plan.key_id),
                        "changed by someone else after keyops wrote it: "
                        + ", ".join(w.field for w in wrong),
                        "check the key; run the operation again if the change is still wanted",
                    )
            position += 1

    async def _rollback(self, run: _Run) -> AsyncIterator[ProgressEvent]:
        record = run.record
        journal = await self.ops.journal(record.id)
        if not journal:
            return
        yield self._progress(
            run, Phase.ROLLING_BACK, (), message=f"rolling back {len(journal)} keys"
        )
        restore = await plan_revert(
            self.client,
            record.id,
            journal,
            index_ready=run.plan.index_ready,
            op_type=OpType.ROLLBACK,
            exact=True,
        )
        # No journal: the rollback must not overwrite the before-values it restores from.
        context = replace(run.context, event="rolled-back", journal_key="")
        stuck = [
            KeyFailure(k, run.plan.name(k), reason, "restore it by hand from the audit trail")
            for k, reason in restore.skipped
        ]
        for chunk in chunked(restore.plans, self.settings.chunk_size):
            for plan, result in zip(chunk, await self._send(run, chunk, context), strict=True):
                if result.status.wrote or result.status is ApplyStatus.ALREADY:
                    record.counts.rolled_back += 1
                else:
                    stuck.append(self._failure(run, plan.key_id, result))
        record.counts.rolled_back += len(restore.unchanged)
        run.warnings.extend(f.reason for f in stuck)
        run.not_rolled_back = stuck

    # -- helpers ----------------------------------------------------------------------------

    def _outcome(self, run: _Run, drifting: list[KeyFailure] | None = None) -> Outcome:
        return Outcome(
            run.record.id,
            run.record.status,
            run.record.counts,
            tuple(run.failures),
            tuple(drifting or ()),
            tuple(run.not_rolled_back),
            run.record.message,
            warnings=tuple(run.warnings),
        )

    def _progress(
        self, run: _Run, phase: Phase, failures: tuple[KeyFailure, ...], message: str = ""
    ) -> ProgressEvent:
        total = len(run.plan.plans)
        elapsed = max(1e-6, time.monotonic() - run.started)
        rate = run.done / elapsed
        eta = (total - run.done) / rate if rate > 0 else None
        return ProgressEvent(
            run.record.id,
            phase,
            run.done,
            total,
            run.record.counts.failed,
            rate,
            eta,
            message,
            failures,
        )

    def _final(self, record: OperationRecord, total: int, outcome: Outcome) -> ProgressEvent:
        counts = outcome.counts
        log.info(
            "op %s %s: %s; planned %d applied %d already %d failed %d skipped %d rolled_back %d "
            "reapplied %d drifting %d%s",
            record.id, outcome.status.value, record.summary, counts.planned, counts.applied,
            counts.already, counts.failed, counts.skipped, counts.rolled_back, counts.reapplied,
            counts.drifting, f"; {outcome.message}" if outcome.message else "",
        )  # fmt: skip
        return ProgressEvent(
            record.id,
            Phase.FINISHED,
            total,
            total,
            record.counts.failed,
            message=outcome.message,
            outcome=outcome,
        )

    def _op_detail(self, record: OperationRecord, plan: BatchPlan) -> dict[str, object]:
        return {
            "type": record.type.value,
            "summary": plan.summary,
            "params": plan.params,
            "operator": record.operator.model_dump(),
            "planned": len(plan.plans),
            "skipped": len(plan.skipped),
            "atomic": plan.atomic,
            "reverts": plan.reverts,
        }

    async def _finish(self, record: OperationRecord) -> None:
        record.finished_at = time.time()
        await self._try_save(record)
        await self.audit.try_op_event(
            record.id,
            "op-end",
            {
                "status": record.status.value,
                "counts": record.counts.model_dump(),
                "message": record.message,
            },
        )

    async def _try_save(self, record: OperationRecord) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self.ops.save(record)
