"""Running a planned batch: audit, lock, journal + apply in chunks, verify, roll back, report.

Every chunk is one apply-script call that checks our lease (fence), compare-and-sets each key's
planned fields, journals their before-values and appends the audit entries, all atomically. A
chunk whose outcome is unknown (timeout, dropped connection) is simply sent again: keys it did
write come back `already`, so nothing is applied or audited twice. Verifying (verify.py) and
rolling back (rollback.py) live beside this; the state they share is run_state.RunState.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from keyops.core.batch import names
from keyops.core.batch.audit import AuditLog
from keyops.core.batch.config import RunnerSettings, chunk_size_for
from keyops.core.batch.identity import OperatorIdentity
from keyops.core.batch.locks import KeyLock, LockRefused, heartbeat, release_every_claim
from keyops.core.batch.operations import OperationRecord, OperationStore, OpStatus, new_op_id
from keyops.core.batch.planning import BatchPlan
from keyops.core.batch.progress import KeyFailure, Outcome, Phase, ProgressEvent
from keyops.core.batch.recovery import resumed_counts
from keyops.core.batch.rollback import roll_back
from keyops.core.batch.run_state import RunState
from keyops.core.batch.sending import chunk_sender
from keyops.core.batch.verify import verify
from keyops.core.edits.base import Skip
from keyops.core.edits.registry import OpType
from keyops.core.schema.writes import FieldWrite, KeyWritePlan
from keyops.core.store.apply import ApplyResult, ApplyStatus, ChunksInDoubt, KeyWriter, WriteContext
from keyops.core.store.key_table import read_current
from keyops.core.wire.chunks import chunked

log = logging.getLogger("keyops.batch")


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
        self._send = chunk_sender(self.writer, self.settings.transient_retries)

    async def execute(
        self,
        plan: BatchPlan,
        cancel: asyncio.Event | None = None,
        resume: OperationRecord | None = None,
    ) -> AsyncGenerator[ProgressEvent, None]:
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
        if resume:
            # The whole op's counts: its journal so far, plus this plan over the rest.
            record.counts = resumed_counts(record, await self.ops.written(record.id), plan)
        else:
            record.plan_skipped = len(plan.skipped)
            record.counts.planned, record.counts.skipped = len(plan.plans), len(plan.skipped)
        counts = record.counts
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
        # A resume goes on even with nothing left to write: it verifies what the killed run wrote.
        if not plan.plans and resume is None:
            record.status, record.finished_at = OpStatus.DONE, time.time()
            await self._finish(record)
            yield self._final(
                record,
                total,
                Outcome(
                    record.id,
                    record.status,
                    counts,
                    message="nothing to change",
                    left_alone=plan.left_alone_keys(),
                ),
            )
            return

        # A rollback takes over the claims of the interrupted op it undoes (they keep its keys
        # from everyone else until then).
        takes_over = plan.reverts if plan.op_type is OpType.ROLLBACK else ""
        lock = KeyLock(self.client, record.id, self.settings.lock_ttl_ms, takes_over)
        yield ProgressEvent(record.id, Phase.LOCKING, 0, total, message=f"locking {total} keys")
        try:
            await lock.acquire([p.key_id for p in plan.plans], self.ops)
        except LockRefused as refused:
            if resume:
                # The interrupted op it continues stays open: it still needs recovering.
                record.message = f"resume refused: {refused}"
                await self._try_save(record)
            else:
                record.status, record.message = OpStatus.REFUSED, str(refused)
                await self._finish(record)
            yield self._final(
                record,
                total,
                Outcome(
                    record.id, OpStatus.REFUSED, counts, message=str(refused), refused_by_lock=True
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
            op_id=record.id,
            event="applied",
            audit_required=self.settings.audit_policy == "block",
        )
        run = RunState(record, plan, lock, context)
        if resume is not None:
            await self._owe_verification(run)
        stop_beat, lost = asyncio.Event(), asyncio.Event()
        beat = asyncio.create_task(heartbeat(lock, stop_beat, lost))
        # The outcome goes out only after the lock is released: a caller that stops reading
        # (or a console that quits) at the outcome must not leave the keys claimed.
        final: ProgressEvent | None = None
        try:
            # Closed with this generator, not whenever they are collected: a caller that stops
            # reading leaves no chunk reply unread on a pooled connection.
            async with contextlib.aclosing(self._apply(run, cancel, lost)) as applying:
                async for event in applying:
                    yield event
            async with contextlib.aclosing(self._conclude(run, cancel)) as concluding:
                async for event in concluding:
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
            if final is None and not record.status.finished:
                # The caller stopped reading before the end (a front end forced its way out, or
                # was cancelled): what this op wrote stays, for `ops recover` to finish or undo.
                await self._abandoned(record)
            with contextlib.suppress(RedisError, OSError):  # the lease expires by itself
                if record.status.finished:
                    await lock.release()
                    if resume is not None:  # the keys its first run claimed, too
                        await release_every_claim(self.client, record.id, takes_over)
                else:  # interrupted: its keys stay claimed until it is recovered
                    await lock.drop_lease()
        if final is not None:
            yield final

    async def _owe_verification(self, run: RunState) -> None:
        """A resumed op answers for the keys its killed run wrote, too: that run never got to
        verify them, so a CRS whole-hash save that put one back would stay (its index update
        with it). They join the written keys, as written long ago, for verify to judge."""
        planned = {p.key_id for p in run.plan.plans}
        for key_id, entry in (await self.ops.journal(run.record.id)).items():
            if key_id in planned:
                continue
            fields = tuple(
                FieldWrite(name, before, after) for name, (before, after) in entry.items()
            )
            run.written[key_id] = KeyWritePlan(key_id, fields, run.plan.index_ready)
        run.write_marks.append((len(run.written), 0.0))

    # -- applying ---------------------------------------------------------------------------

    async def _apply(
        self, run: RunState, cancel: asyncio.Event, lost: asyncio.Event
    ) -> AsyncGenerator[ProgressEvent, None]:
        record, counts = run.record, run.record.counts
        stop = False

        async def chunks() -> AsyncIterator[list[KeyWritePlan]]:
            """The chunks to send, checked one by one at the boundary before each is sent."""
            nonlocal stop
            size = chunk_size_for(run.plan.plans, self.settings.chunk_size)
            for index, chunk in enumerate(chunked(run.plan.plans, size)):
                if stop:
                    return
                if cancel.is_set():
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
            async with contextlib.aclosing(self.writer.pipelined(chunks(), run.context)) as written:
                async for chunk, results in written:
                    run.last_write = time.monotonic()
                    new_failures = await self._settle(run, chunk, results)
                    run.write_marks.append((len(run.written), run.last_write))
                    # The op record (progress other operators see when refused) is saved once
                    # a second: a save waits behind the chunk Redis is running, so saving after
                    # every chunk stalled the pipeline.
                    if run.last_write - run.last_save >= 1.0:
                        run.last_save = run.last_write
                        await self._try_save(record)
                    yield run.progress(Phase.APPLYING, (*run.drain_events(), *new_failures))
                    if (run.plan.atomic and run.failures) or any(
                        f.reason.startswith(("audit", "lock")) for f in new_failures
                    ):
                        stop = True
        except ChunksInDoubt as doubt:
            # The connection failed with chunks in flight: resend them (compare-and-set makes
            # a resend of an applied chunk come back `already`), then go on chunk by chunk.
            for chunk in doubt.chunks:
                new_failures = await self._write_chunk(run, chunk)
                yield run.progress(Phase.APPLYING, tuple(new_failures))
            sent = set(run.written) | {f.key_id for f in run.failures}
            rest = [plan for plan in run.plan.plans if plan.key_id not in sent]
            async for event in self._apply_rest(run, rest, cancel, lost):
                yield event
        if run.pending_events:
            yield run.progress(Phase.APPLYING, run.drain_events())

    async def _apply_rest(
        self, run: RunState, plans: list[KeyWritePlan], cancel: asyncio.Event, lost: asyncio.Event
    ) -> AsyncIterator[ProgressEvent]:
        """After a connection failure: the remaining chunks, one call at a time."""
        for chunk in chunked(plans, chunk_size_for(plans, self.settings.chunk_size)):
            if cancel.is_set() or lost.is_set() or not run.lock.surely_alive():
                run.record.message = run.record.message or "stopped after a connection failure"
                return
            new_failures = await self._write_chunk(run, chunk)
            yield run.progress(Phase.APPLYING, tuple(new_failures))
            if run.plan.atomic and run.failures:
                return

    async def _write_chunk(self, run: RunState, chunk: list[KeyWritePlan]) -> list[KeyFailure]:
        return await self._settle(run, chunk, await self._send(run, chunk, None))

    async def _settle(
        self, run: RunState, chunk: list[KeyWritePlan], first_results: list[ApplyResult]
    ) -> list[KeyFailure]:
        """Count a chunk's results; re-plan and resend keys whose fields moved meanwhile."""
        counts = run.record.counts
        failures: list[KeyFailure] = []
        pending = list(chunk)
        for attempt in range(self.settings.conflict_retries + 1):
            results = first_results if attempt == 0 else await self._send(run, pending, None)
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
                    failures.append(run.failure(plan.key_id, result))
                    counts.failed += 1
                    run.done += 1
            if not retry:
                break
            # A field the decision wrote or read moved between planning and writing: decide
            # again on what is there now.
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
                    # What planning would have decided had it seen the key now (soft-deleted,
                    # bound elsewhere, gone...): the key is skipped with the reason, as at
                    # planning, and nothing is written to it.
                    counts.skipped += 1
                    run.done += 1
                    run.warnings.append(
                        f"{key_id}: skipped, changed since planning: {decision.reason}"
                    )
                elif decision.is_noop:
                    run.done += 1
                    counts.already += 1
                else:
                    pending.append(decision)
            if not pending:
                break
        run.failures.extend(failures)
        return failures

    # -- finishing --------------------------------------------------------------------------

    async def _conclude(
        self, run: RunState, cancel: asyncio.Event
    ) -> AsyncGenerator[ProgressEvent, None]:
        record, counts = run.record, run.record.counts
        total = len(run.plan.plans)
        if run.plan.atomic and (run.failures or cancel.is_set()):
            # Should the process die while undoing, recovery must finish the undo.
            record.undoing = True
            await self._try_save(record)
            async for event in roll_back(self.client, run, self.settings, self._send):
                yield event
            status = (
                OpStatus.CANCELLED if cancel.is_set() and not run.failures else OpStatus.ROLLED_BACK
            )
            if run.failures and not record.message:
                record.message = (
                    f"{len(run.failures)} failures: rolled back every key already written"
                )
            elif cancel.is_set():
                record.message = (
                    f"cancelled after writing {counts.applied} of {counts.planned} keys; all "
                    f"{counts.rolled_back} were rolled back, so every key is as it was before"
                    if counts.applied
                    else "cancelled before writing any key: nothing changed"
                )
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
            yield run.progress(Phase.VERIFYING, (), message=f"verifying {len(run.written)} keys")
            drifting = await verify(self.client, run, self.settings, self._send)
        counts.drifting = len(drifting)
        if cancel.is_set():
            record.status = OpStatus.CANCELLED
            record.message = (
                f"cancelled after writing {counts.applied} of {counts.planned} keys, which keep "
                f"the change: undo them with 'keyops ops revert {record.id}', or run the same "
                "command again to change the rest"
                if counts.applied
                else "cancelled before writing any key: nothing changed"
            )
        elif run.failures or drifting:
            record.status = OpStatus.PARTIAL
        else:
            record.status = OpStatus.DONE
        await self._finish(record)
        yield self._final(record, total, self._outcome(run, drifting))

    # -- helpers ----------------------------------------------------------------------------

    def _outcome(self, run: RunState, drifting: list[KeyFailure] | None = None) -> Outcome:
        return Outcome(
            run.record.id,
            run.record.status,
            run.record.counts,
            tuple(run.failures),
            tuple(drifting or ()),
            tuple(run.not_rolled_back),
            run.record.message,
            warnings=tuple(run.warnings),
            left_alone=run.plan.left_alone_keys(),
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
        with contextlib.suppress(RedisError, OSError):  # else the counts as they stand
            record.counts.count_written(await self.ops.written(record.id))
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

    async def _abandoned(self, record: OperationRecord) -> None:
        """Records why an op that was left running stopped, and how to go on."""
        written = record.counts.applied
        with contextlib.suppress(RedisError, OSError):
            # The journal is what was written: a chunk whose reply was never read counts too.
            written = int(await self.client.hlen(names.op_journal(record.id)))
        record.message = (
            f"stopped before it finished ({written} of {record.counts.planned} keys written, "
            f"{record.counts.rolled_back} rolled back); its keys stay locked until "
            f"'keyops ops recover {record.id} --rollback' undoes it or '--resume' finishes it"
        )
        await self._try_save(record)
        detail = {"counts": record.counts.model_dump(), "message": record.message}
        with contextlib.suppress(RedisError, OSError):
            await self.audit.try_op_event(record.id, "op-interrupted", detail)

    async def _try_save(self, record: OperationRecord) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self.ops.save(record)
