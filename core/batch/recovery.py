"""Recovering an interrupted operation (its record says running, its lease is gone: the
process died or lost Redis mid-batch): what `ops recover` may do with it, the plan that does
it, and closing the operation a rollback undid.

Every path ends with the operation closed and audited:
- `resume` finishes it under its own id: its request again, over the targets its journal does
  not hold. `rollback` restores every key its journal holds (a new op of type rollback).
- An op that wrote nothing: its rollback has nothing to write and still runs, to close it.
- Keys changed since the op wrote them: the rollback leaves them as they are (the later change
  wins), and the op closes as partial, naming them.
- A rollback that was itself interrupted is finished, never undone (undoing it would put the
  change back): recovering it, or the op it undoes, rolls that op back from ITS journal, minus
  the keys the rollback already restored, under the rollback's own id. Both then close.
- An op that had begun rolling back (after a failure, a cancel, or a recovery that could not
  finish) can only be rolled back: writing the rest would leave its restored keys behind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from keyops.core.batch import names
from keyops.core.batch.audit import AuditLog
from keyops.core.batch.locks import release_every_claim
from keyops.core.batch.operations import OpCounts, OperationRecord, OperationStore, OpStatus
from keyops.core.batch.planning import (
    KEY_GONE,
    BatchPlan,
    plan_nothing_to_roll_back,
    plan_resume,
    plan_undo,
)
from keyops.core.batch.progress import KeyFailure, Outcome, ProgressEvent
from keyops.core.edits.registry import BY_TYPE, OpType
from keyops.core.errors import BadInput
from keyops.core.schema.catalog import AccountCatalog
from keyops.core.store.key_table import KeyTable

RESUME, ROLLBACK = "resume", "rollback"
# Keys named in a closing message and in the op-end audit entry (the outcome lists them all).
NAMED_KEYS = 5
AUDITED_KEYS = 100


@dataclass(frozen=True, slots=True)
class Recovery:
    """An interrupted operation and what recovering it does."""

    record: OperationRecord
    actions: tuple[str, ...]  # what recovery accepts for it: resume, rollback
    advice: str  # the command that closes it, in words
    reason: str = ""  # why only some actions make sense ("" when both do)
    finishes: str = ""  # the interrupted rollback that recovering it finishes

    @property
    def written(self) -> int:
        """Keys it wrote (its journal's length)."""
        return self.record.counts.applied


def _describe(record: OperationRecord, rollback: OperationRecord | None) -> Recovery:
    """What recovering `record` means, `rollback` being an interrupted rollback of it."""
    command = f"keyops ops recover {record.id}"
    if record.type is OpType.ROLLBACK and record.reverts:
        reason = "a rollback is finished, never undone (undoing it would put the change back)"
        return Recovery(
            record, (RESUME, ROLLBACK),
            f"finish it with '{command} --resume': {record.reverts} is rolled back the rest of "
            "the way, and both close",
            reason, finishes=record.id,
        )  # fmt: skip
    if rollback is not None:
        return Recovery(
            record, (ROLLBACK,),
            f"its rollback {rollback.id} was interrupted too: 'keyops ops recover {rollback.id} "
            "--resume' finishes it, and both close",
            f"its rollback {rollback.id} was interrupted too", finishes=rollback.id,
        )  # fmt: skip
    if record.undoing:
        return Recovery(
            record, (ROLLBACK,),
            f"it had begun rolling back what it wrote: '{command} --rollback' finishes that",
            "it had begun rolling back what it wrote",
        )  # fmt: skip
    if not BY_TYPE[record.type].resumable:
        return Recovery(
            record, (ROLLBACK,),
            f"undo what it wrote with '{command} --rollback' (a {record.type.value} cannot be "
            "resumed; run it again afterwards)",
            f"a {record.type.value} cannot be resumed",
        )  # fmt: skip
    return Recovery(
        record, (RESUME, ROLLBACK),
        f"finish it with '{command} --resume' or undo what it wrote with '{command} --rollback'",
    )  # fmt: skip


def _rollbacks(unfinished: list[OperationRecord]) -> dict[str, OperationRecord]:
    """The newest interrupted rollback of each op that has one."""
    found: dict[str, OperationRecord] = {}
    for record in unfinished:  # newest first
        if record.type is OpType.ROLLBACK and record.reverts:
            found.setdefault(record.reverts, record)
    return found


async def recoveries(ops: OperationStore) -> list[Recovery]:
    """Every interrupted operation, newest first, with what recovering it does."""
    unfinished = await ops.unfinished()
    rollbacks = _rollbacks(unfinished)
    return [_describe(record, rollbacks.get(record.id)) for record in unfinished]


async def plan_recovery(
    client: aioredis.Redis,
    ops: OperationStore,
    op_id: str,
    action: str,
    table: KeyTable,
    catalog: AccountCatalog,
) -> tuple[BatchPlan, OperationRecord | None]:
    """The plan that recovers `op_id`, and the record it continues (None: a new rollback op).
    A plan with nothing to write still closes the op when it runs."""
    if action not in (RESUME, ROLLBACK):
        raise BadInput("recover takes --rollback or --resume")
    record = await ops.get(op_id)
    if record is None:
        raise BadInput(f"no operation {op_id}")
    if record.status is not OpStatus.RUNNING:
        raise BadInput(f"operation {op_id} is not interrupted (it is {record.status.value})")
    if await client.exists(names.lease(op_id)):
        raise BadInput(f"operation {op_id} is still running: its lock is alive")
    recovery = _describe(record, _rollbacks(await ops.unfinished()).get(op_id))
    if action not in recovery.actions:
        verb = "resumed" if action == RESUME else "rolled back"
        raise BadInput(f"operation {op_id} cannot be {verb}: {recovery.advice}")
    index_ready = table.index_ready
    if recovery.finishes:
        rollback = record if recovery.finishes == op_id else await ops.get(recovery.finishes)
        assert rollback is not None  # found among the interrupted ops just now
        return await _plan_finishing(client, ops, rollback, index_ready, catalog), rollback
    journal = await ops.journal(op_id)
    if action == ROLLBACK:
        if not journal:
            return plan_nothing_to_roll_back(op_id, index_ready), None
        plan = await plan_undo(
            client, op_id, journal, index_ready=index_ready, rollback=True, catalog=catalog
        )
        return plan, None
    targets = await ops.targets(op_id)
    if not journal and len(targets) < record.counts.planned:
        # It died while claiming its keys: the rest of its targets were never recorded.
        plan = plan_nothing_to_roll_back(op_id, index_ready)
        plan.warnings.append(
            f"{op_id} stopped while locking its keys, before writing any: only "
            f"{len(targets)} of its {record.counts.planned} keys are on record, so it cannot be "
            "finished; this closes it (nothing to undo), then run the command again"
        )
        return plan, None
    remaining = sorted(targets - set(journal))
    return await plan_resume(client, record, remaining, table, catalog), record


async def _plan_finishing(
    client: aioredis.Redis,
    ops: OperationStore,
    rollback: OperationRecord,
    index_ready: bool,
    catalog: AccountCatalog,
) -> BatchPlan:
    """The rest of an interrupted rollback: its op's journal minus what it restored."""
    original = rollback.reverts
    journal = await ops.journal(original)
    restored = await ops.journaled(rollback.id)
    rest = [key_id for key_id in journal if key_id not in restored]
    if journal:
        # The whole journal, for verify: the keys the killed rollback restored are verified
        # again by this run (even with no rest to write), and one CRS put back since is
        # undone again from its entry.
        plan = await plan_undo(
            client, original, journal, index_ready=index_ready, rollback=True,
            catalog=catalog, only=rest,
        )  # fmt: skip
    else:
        plan = plan_nothing_to_roll_back(original, index_ready)
    plan.summary = f"finish {rollback.summary}"
    plan.params, plan.atomic = rollback.params, rollback.atomic
    plan.warnings.append(
        f"finishing the interrupted rollback {rollback.id}: it restored {len(restored)} of the "
        f"{len(journal)} keys {original} wrote; the rest are rolled back now, then both close"
    )
    # Its first plan's skips are among the keys planned again: counted once, by this plan.
    rollback.plan_skipped = 0
    return plan


def resumed_counts(record: OperationRecord, written: int, plan: BatchPlan) -> OpCounts:
    """The counts of a resumed op: the keys its journal holds, plus this run's plan over the
    rest of its targets (those already as asked count as `already`)."""
    return OpCounts(
        planned=written + len(plan.plans) + len(plan.unchanged),
        applied=written,
        already=len(plan.unchanged),
        skipped=record.plan_skipped + len(plan.skipped),
    )


async def close_rolled_back(
    ops: OperationStore, audit: AuditLog, plan: BatchPlan, final: ProgressEvent
) -> ProgressEvent:
    """After a rollback op's run: close the op it rolled back (status, message, counts, an
    op-end audit entry) and say so in the outcome. Keys the rollback left because they changed
    since are named, with the command that shows what keyops wrote to them. A rollback that
    stopped, was cancelled or could not write some keys leaves the op open, marked as undoing,
    for `ops recover --rollback` to finish."""
    outcome = final.outcome
    assert outcome is not None
    if outcome.status in (OpStatus.RUNNING, OpStatus.REFUSED):
        return final  # it stopped, or never started: both stay as they are
    try:
        return await _close(ops, audit, plan, final, outcome)
    except (RedisError, OSError) as error:
        return _told(
            final,
            f"{plan.reverts} could not be marked closed ({error}); once Redis answers, "
            f"'keyops ops recover {plan.reverts} --rollback' closes it (nothing is left to write)",
            (),
        )


async def _close(
    ops: OperationStore, audit: AuditLog, plan: BatchPlan, final: ProgressEvent, outcome: Outcome
) -> ProgressEvent:
    original = await ops.get(plan.reverts)
    if original is None or original.status is not OpStatus.RUNNING:
        # Closed meanwhile (by another recovery): the claims this rollback handed back to it
        # would keep nothing safe, only clutter the lock table.
        await release_every_claim(ops.client, plan.reverts)
        return final
    op_id, by = original.id, outcome.op_id
    if outcome.status is OpStatus.CANCELLED or outcome.failures:
        why = "was cancelled" if outcome.status is OpStatus.CANCELLED else "could not write"
        original.undoing = True
        original.message = (
            f"its rollback {by} {why} some keys; finish the rollback with "
            f"'keyops ops recover {op_id} --rollback'"
        )
        await ops.save(original)
        return _told(final, f"{op_id} stays open: {original.message}", ())
    left = [(key_id, reason) for key_id, reason in plan.skipped if reason != KEY_GONE]
    gone = len(plan.skipped) - len(left)
    written = original.counts.applied
    original.status = OpStatus.PARTIAL if left else OpStatus.ROLLED_BACK
    original.counts.rolled_back = max(0, written - len(left) - gone)
    original.message = _closing_message(plan, op_id, by, written, left, gone)
    original.finished_at = time.time()
    await ops.save(original)
    # Its claims on keys the rollback did not take over (those it never wrote) go with it.
    await release_every_claim(ops.client, op_id)
    await audit.try_op_event(
        op_id, "op-end", {
            "status": original.status.value, "counts": original.counts.model_dump(),
            "message": original.message, "closed_by": by, "left": len(left),
            "left_keys": [key_id for key_id, _ in left[:AUDITED_KEYS]],
        },
    )  # fmt: skip
    kept = tuple(
        KeyFailure(
            key_id, plan.name(key_id), f"left as it is: {reason}",
            f"what keyops wrote: keyops audit list --op {op_id} --key {key_id}",
        )
        for key_id, reason in left
    )  # fmt: skip
    status = "partly rolled back" if left else "rolled back"
    return _told(final, f"{op_id} is closed, {status}", kept)


def _closing_message(
    plan: BatchPlan, op_id: str, by: str, written: int, left: list[tuple[str, str]], gone: int
) -> str:
    if not written:
        return f"interrupted before it wrote anything; closed by {by}"
    text = f"interrupted, then rolled back by {by}"
    if gone:
        text += f"; {gone} keys it wrote no longer exist"
    if left:
        shown = ", ".join(
            f"{plan.name(key_id)} ({key_id})" if plan.name(key_id) else key_id
            for key_id, _ in left[:NAMED_KEYS]
        )
        more = f" and {len(left) - NAMED_KEYS} more" if len(left) > NAMED_KEYS else ""
        text += (
            f"; {len(left)} keys changed since it wrote them and were left as they are (the "
            f"later change wins): {shown}{more}; see what keyops wrote to one with "
            f"'keyops audit list --op {op_id} --key KEY_ID'"
        )
    return text


def _told(final: ProgressEvent, note: str, kept: tuple[KeyFailure, ...]) -> ProgressEvent:
    """The final event, its outcome saying what became of the op it rolled back."""
    outcome = final.outcome
    assert outcome is not None
    message = f"{outcome.message}; {note}" if outcome.message else note
    told = replace(outcome, message=message, not_rolled_back=(*outcome.not_rolled_back, *kept))
    return replace(final, message=message, outcome=told)
