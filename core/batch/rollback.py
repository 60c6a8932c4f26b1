"""Rolling back an atomic batch that failed or was cancelled: every key it wrote gets its
journaled before-values back, exactly (`updatedAt` included). Keys Redis refuses to restore
are reported; the op then stays open so recovery can finish the rollback later."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import redis.asyncio as aioredis

from keyops.core.batch.config import RunnerSettings
from keyops.core.batch.operations import OperationStore
from keyops.core.batch.planning import plan_undo
from keyops.core.batch.progress import KeyFailure, Phase, ProgressEvent
from keyops.core.batch.run_state import RunState
from keyops.core.batch.sending import Send
from keyops.core.store.apply import ApplyStatus
from keyops.core.wire.chunks import chunked


async def roll_back(
    client: aioredis.Redis, run: RunState, settings: RunnerSettings, send: Send
) -> AsyncIterator[ProgressEvent]:
    record = run.record
    journal = await OperationStore(client).journal(record.id)
    if not journal:
        return
    message = f"rolling back {len(journal)} keys"
    yield run.progress(Phase.ROLLING_BACK, (), message=message)
    restore = await plan_undo(
        client, record.id, journal, index_ready=run.plan.index_ready, rollback=True
    )
    # No journal: the rollback must not overwrite the before-values it restores from.
    context = replace(run.context, event="rolled-back", journal_key="")
    stuck = [
        KeyFailure(k, run.plan.name(k), reason, "restore it by hand from the audit trail")
        for k, reason in restore.skipped
    ]
    sent = 0
    for chunk in chunked(restore.plans, settings.chunk_size):
        for plan, result in zip(chunk, await send(run, chunk, context), strict=True):
            if result.status.wrote or result.status is ApplyStatus.ALREADY:
                record.counts.rolled_back += 1
            else:
                stuck.append(run.failure(plan.key_id, result))
        sent += len(chunk)
        # After each chunk: how far the undo got (and a point where a front end may stop).
        yield ProgressEvent(
            record.id, Phase.ROLLING_BACK, sent, len(restore.plans), record.counts.failed,
            message=message,
        )  # fmt: skip
    record.counts.rolled_back += len(restore.unchanged)
    run.warnings.extend(f.reason for f in stuck)
    run.not_rolled_back = stuck
