"""Verifying a batch: every written key is read again once CRS's in-flight requests had time
to write back, and judged by the operation's intent (`edits.intent`), not by whole fields: a
tag someone else added meanwhile beside keyops's own is not drift.

A key that shows none of the change any more (a whole-hash rewrite from a request that read
it before keyops wrote) is decided again on what it holds now, by the edit's own rules, and
written again: the decision adds keyops's tag to the list that is there now rather than
writing the planned list over someone's new tag. Anything else that moved is drift.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import redis.asyncio as aioredis

from keyops.core.batch.config import RunnerSettings, chunk_size_for
from keyops.core.batch.progress import KeyFailure
from keyops.core.batch.run_state import RunState
from keyops.core.batch.sending import Send
from keyops.core.edits.base import Skip
from keyops.core.edits.intent import Judgement, judge
from keyops.core.schema.writes import UNJUDGED_FIELDS, KeyWritePlan
from keyops.core.store.apply import ApplyStatus
from keyops.core.store.key_table import LOAD_CHUNK, read_current, read_fields
from keyops.core.wire.chunks import chunked

_DRIFT_ADVICE = "check the key; run the operation again if the change is still wanted"


async def verify(
    client: aioredis.Redis, run: RunState, settings: RunnerSettings, send: Send
) -> list[KeyFailure]:
    """Re-read every written key; write again what CRS's whole-hash rewrites put back."""
    suspects: list[KeyWritePlan] = list(run.written.values())
    drifting: dict[str, KeyFailure] = {}
    checked = tuple(sorted({w.field for p in suspects for w in p.fields} - UNJUDGED_FIELDS))
    for round_number in range(settings.verify_rounds):
        # CRS's in-flight requests get verify_delay after a key's write to write it back.
        batches = [suspects]
        if round_number == 0:
            aged_before = time.monotonic() - settings.verify_delay
            aged = max((count for count, when in run.write_marks if when <= aged_before), default=0)
            batches = [suspects[:aged], suspects[aged:]]
        reverted: list[str] = []
        drifting = {}
        for batch in batches:
            if batch is not batches[0] or len(batches) == 1:
                await asyncio.sleep(
                    max(0.0, settings.verify_delay - (time.monotonic() - run.last_write))
                )
            await _verify_batch(client, run, batch, checked, reverted, drifting)
        if not reverted:
            break
        again = await _decide_again(client, run, reverted, drifting)
        if not again:
            suspects = []
            break
        context = replace(run.context, event="reapplied")
        results = [
            result
            for part in chunked(again, chunk_size_for(again, settings.chunk_size))
            for result in await send(run, part, context)
        ]
        run.record.counts.reapplied += sum(1 for r in results if r.status.wrote)
        suspects = again
        for plan, result in zip(again, results, strict=True):
            run.written[plan.key_id] = plan
            if not (result.status.wrote or result.status is ApplyStatus.ALREADY):
                drifting[plan.key_id] = run.failure(plan.key_id, result)
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
    client: aioredis.Redis,
    run: RunState,
    plans: list[KeyWritePlan],
    checked: tuple[str, ...],
    reverted: list[str],
    drifting: dict[str, KeyFailure],
) -> None:
    """Read and judge chunk by chunk: holding every key's fields at once would be the
    largest allocation of a 100,000-key batch."""
    chunks = list(chunked(plans, LOAD_CHUNK))
    ids = [[plan.key_id for plan in chunk] for chunk in chunks]
    position = 0
    single = checked[0] if len(checked) == 1 else None
    async for _, replies in read_fields(client, ids, checked):
        for plan, reply in zip(chunks[position], replies, strict=True):
            if single is not None and not isinstance(reply, Exception):
                # The common case, one field written and still as written: compare without
                # building a dict.
                write = next(w for w in plan.fields if w.field == single)
                if reply[0] == write.after:
                    continue
            stored = (
                {}
                if isinstance(reply, Exception)
                else {name: value for name, value in zip(checked, reply, strict=True)}
            )
            judged = [
                (w.field, judge(w.field, w.before, w.after, stored.get(w.field)))
                for w in plan.fields
                if w.field not in UNJUDGED_FIELDS
            ]
            lost = [name for name, judgement in judged if judgement is not Judgement.HELD]
            if not lost:
                continue
            if all(judgement is not Judgement.MOVED for _, judgement in judged):
                reverted.append(plan.key_id)
            else:
                drifting[plan.key_id] = KeyFailure(
                    plan.key_id,
                    run.plan.name(plan.key_id),
                    "changed by someone else after keyops wrote it: " + ", ".join(lost),
                    _DRIFT_ADVICE,
                )
        position += 1


async def _decide_again(
    client: aioredis.Redis, run: RunState, key_ids: list[str], drifting: dict[str, KeyFailure]
) -> list[KeyWritePlan]:
    """The writes that give keys CRS put back the change again, decided on what they hold now
    by the batch's own rules; a key those rules now leave alone is reported as drift."""
    current = await read_current(client, key_ids, run.plan.read_fields)
    again: list[KeyWritePlan] = []
    for key_id in key_ids:
        stored = current.get(key_id)
        decision = (
            Skip("the key was deleted after keyops wrote it")
            if stored is None
            else run.plan.decide_on(key_id, stored, "damaged after keyops wrote it")
        )
        if isinstance(decision, Skip):
            drifting[key_id] = KeyFailure(
                key_id, run.plan.name(key_id), decision.reason, _DRIFT_ADVICE
            )
        elif not decision.is_noop:
            again.append(decision)
    return again
