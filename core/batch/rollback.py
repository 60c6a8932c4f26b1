"""Rolling back an atomic batch that failed or was cancelled: every key it wrote gets its
journaled before-values back, exactly (`updatedAt` included). Keys Redis refuses to restore
are reported; the op then stays open so recovery can finish the rollback later."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import redis.asyncio as aioredis

from keyops.core.batch.config import RunnerSettings, chunk_size_for
from keyops.core.batch.operations import OperationStore
from keyops.core.batch.planning import plan_undo
from keyops.core.batch.progress import KeyFailure, Phase, ProgressEvent
from keyops.core.batch.run_state import RunState
from keyops.core.batch.sending import Send
from keyops.core.edits.base import Skip
from keyops.core.schema.writes import KeyWritePlan
from keyops.core.store.apply import ApplyStatus
from keyops.core.store.key_table import read_current
from keyops.core.wire.chunks import chunked


async def roll_back(
    client: aioredis.Redis, run: RunState, settings: RunnerSettings, send: Send
) -> AsyncIterator[ProgressEvent]:
    record = run.record
    journal = await OperationStore(client).journal(record.id)
    if not journal:
        return
    message = f"rolling back {len(journal)} keys"
    # Counts the undo's own keys from 0: the forward run's done/total would read as "restored".
    yield ProgressEvent(
        record.id, Phase.ROLLING_BACK, 0, len(journal), record.counts.failed, message=message
    )
    restore = await plan_undo(
        client, record.id, journal, index_ready=run.plan.index_ready, rollback=True
    )
    # No journal: the rollback must not overwrite the before-values it restores from.
    context = replace(run.context, event="rolled-back", journal_key="")
    stuck = [_by_hand(run, k, reason) for k, reason in restore.skipped]
    sent = 0
    for chunk in chunked(restore.plans, chunk_size_for(restore.plans, settings.chunk_size)):
        pending: list[KeyWritePlan] = chunk
        for attempt in range(settings.conflict_retries + 1):
            retry: list[str] = []
            for plan, result in zip(pending, await send(run, pending, context), strict=True):
                if result.status.wrote or result.status is ApplyStatus.ALREADY:
                    record.counts.rolled_back += 1
                elif result.status is ApplyStatus.CONFLICT and attempt < settings.conflict_retries:
                    retry.append(plan.key_id)
                else:
                    stuck.append(run.failure(plan.key_id, result))
            if not retry:
                break
            # A field the restore wrote or read moved since it was decided (CRS wrote the key
            # meanwhile): decide the restore again on what the key holds now.
            pending = []
            current = await read_current(client, retry, restore.read_fields)
            for key_id in retry:
                stored = current.get(key_id)
                decision = (
                    restore.decide_on(key_id, stored)
                    if stored is not None
                    else Skip("the key no longer exists")
                )
                if isinstance(decision, Skip):
                    stuck.append(_by_hand(run, key_id, decision.reason))
                elif decision.is_noop:
                    record.counts.rolled_back += 1
                else:
                    pending.append(decision)
            if not pending:
                break
        sent += len(chunk)
        # After each chunk: how far the undo got (and a point where a front end may stop).
        yield ProgressEvent(
            record.id, Phase.ROLLING_BACK, sent, len(restore.plans), record.counts.failed,
            message=message,
        )  # fmt: skip
    record.counts.rolled_back += len(restore.unchanged)
    run.warnings.extend(f.reason for f in stuck)
    run.not_rolled_back = stuck


def _by_hand(run: RunState, key_id: str, reason: str) -> KeyFailure:
    return KeyFailure(
        key_id,
        run.plan.name(key_id),
        reason,
        f"what keyops wrote to it: keyops audit list --key {key_id}",
    )
