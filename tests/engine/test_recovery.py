"""A keyops process SIGKILLed mid-operation is found on the next start and recovered."""

from __future__ import annotations

import asyncio
import json

import pytest
import redis.asyncio as aioredis

from keyops.core.api import BadInput, Phase, StatusChange, TagEdit
from keyops.core.batch import names
from keyops.core.batch.audit import AuditFilter
from keyops.core.batch.identity import OperatorIdentity
from keyops.core.batch.operations import OperationRecord, OperationStore, OpStatus
from keyops.core.edits.registry import OpType
from tests.engine.conftest import crs_state, ids_where, make_service, run
from tests.support import slow_batch
from tests.support.crs_actions import crs_soft_deletes
from tests.support.invariants import crs_index_problems
from tests.support.redis_server import RedisServer


async def kill_mid_batch(crs: aioredis.Redis, redis_server: RedisServer, tag: str) -> None:
    """A tag add on the 1000 `bulk` keys, SIGKILLed after three chunks of 100."""
    await slow_batch.kill_mid_batch(crs, redis_server.url, "tag:bulk", tag)


async def test_sigkilled_operation_is_rolled_back_to_the_exact_before_state(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    before = await crs_state(crs)
    await kill_mid_batch(crs, redis_server, "killed")
    assert await crs.scard("apikey:tag:killed") == 300  # three chunks landed before the kill

    service = make_service(crs)
    (interrupted,) = await service.interrupted_operations()
    assert interrupted.summary == "tags add (merge): killed"
    plan, resume = await service.plan_recovery(interrupted.id, "rollback")
    assert resume is None and len(plan.plans) == 300
    outcome, _ = await run(service, plan)
    assert outcome.status is OpStatus.DONE
    assert await crs_state(crs) == before
    assert (await service.op(interrupted.id)).status is OpStatus.ROLLED_BACK
    assert await service.interrupted_operations() == []


async def test_sigkilled_operation_can_be_resumed_to_the_end(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    await kill_mid_batch(crs, redis_server, "resumed")
    service = make_service(crs)
    (interrupted,) = await service.interrupted_operations()
    plan, resume = await service.plan_recovery(interrupted.id, "resume")
    assert resume is not None and len(plan.plans) == 700
    events = [event async for event in service.run_recovery(plan, resume)]
    outcome = events[-1].outcome
    assert outcome is not None and outcome.status is OpStatus.DONE
    assert await crs.scard("apikey:tag:resumed") == 1000
    journal = await service.op_journal(interrupted.id)
    assert len(journal) == 1000 and json.loads(json.dumps(journal))  # one journal for the whole op
    # Finished, it frees the keys its first run claimed too, not only those the resume claimed.
    assert interrupted.id not in (await crs.hgetall(names.KEY_LOCKS)).values()
    assert await crs_index_problems(crs) == []


async def test_an_operation_that_died_before_writing_is_closed_by_its_rollback(
    crs: aioredis.Redis,
) -> None:
    service = make_service(crs)
    record = OperationRecord(
        id="20261127-030000-0dead0", type=OpType.TAGS, summary="tags add (merge): x",
        operator=OperatorIdentity(os_user="bob", host="ops1", pid=7),
    )  # fmt: skip
    await OperationStore(crs).save(record)  # running, no lease, no journal: died while locking
    claimed = (await ids_where(service, "tag:bulk"))[:20]  # what it had claimed when it died
    await crs.hset(names.KEY_LOCKS, mapping=dict.fromkeys(claimed, record.id))
    await crs.sadd(names.op_targets(record.id), *claimed)
    before = await crs_state(crs)
    assert [r.id for r in await service.interrupted_operations()] == [record.id]
    plan, resume = await service.plan_recovery(record.id, "rollback")
    assert resume is None and not plan.plans
    outcome, _ = await run(service, plan)
    assert outcome.status is OpStatus.DONE
    closed = await OperationStore(crs).get(record.id)
    assert closed is not None and closed.status is OpStatus.ROLLED_BACK
    assert await service.interrupted_operations() == []
    assert await crs_state(crs) == before
    # Closed, it holds none of its keys any more (its claims used to stay behind for good).
    assert record.id not in (await crs.hgetall(names.KEY_LOCKS)).values()


async def test_an_atomic_batch_whose_own_rollback_was_cut_short_can_only_be_rolled_back(
    crs: aioredis.Redis,
) -> None:
    service = make_service(crs, chunk_size=10)
    targets = (await ids_where(service, "status:active"))[:30]
    deleted = targets[0]

    async def crs_deletes_one_then_the_batch_fails(index: int) -> None:
        if index == 1:
            await crs_soft_deletes(crs, deleted)  # disabled by the first chunk, then deleted
            raise RuntimeError("injected failure")

    service.config.runner.before_chunk = crs_deletes_one_then_the_batch_fails
    plan = await service.plan(targets, StatusChange.build(enable=False, atomic=True))
    failed, _ = await run(service, plan)
    # Its undo cannot re-enable a deleted key: the op stays open, half undone.
    assert failed.status is OpStatus.RUNNING
    assert [f.key_id for f in failed.not_rolled_back] == [deleted]

    (recovery,) = await service.recoveries()
    assert recovery.actions == ("rollback",) and "--rollback' finishes that" in recovery.advice
    with pytest.raises(BadInput, match="cannot be resumed"):
        await service.plan_recovery(failed.op_id, "resume")  # the 9 it restored stay undone
    service.config.runner.before_chunk = None
    plan, resume = await service.plan_recovery(failed.op_id, "rollback")
    assert resume is None
    finished, _ = await run(service, plan)
    assert [f.key_id for f in finished.not_rolled_back] == [deleted]
    closed = await service.op(failed.op_id)
    assert closed.status is OpStatus.PARTIAL and deleted in closed.message
    assert await service.interrupted_operations() == []
    for key_id in targets[1:]:
        assert await crs.hget(f"apikey:{key_id}", "isActive") == "true"
    assert await crs.hget(f"apikey:{deleted}", "isActive") == "false"
    assert await crs_index_problems(crs) == []


async def test_a_caller_that_stops_reading_mid_batch_leaves_the_op_open_with_its_keys_locked(
    crs: aioredis.Redis,
) -> None:
    """A front end forced out mid-batch (a third Ctrl+C, a console that quits): what was
    written stays, and nobody else may touch those keys until the op is recovered."""
    before = await crs_state(crs)
    service = make_service(crs, chunk_size=100)
    targets = await ids_where(service, "tag:bulk")
    stream = service.run(await service.plan(targets, TagEdit.build("add", ["left"])))
    async for event in stream:
        if event.phase is Phase.APPLYING and event.done >= 300:
            break
    await stream.aclose()
    (interrupted,) = await service.interrupted_operations()
    assert f"'keyops ops recover {interrupted.id} --rollback'" in interrupted.message
    events = [e.event async for e in service.audit_entries(AuditFilter(op_id=interrupted.id))]
    assert events[-1] == "op-interrupted"

    other, _ = await run(service, await service.plan(targets, TagEdit.build("add", ["other"])))
    assert other.refused_by_lock and interrupted.id in other.message
    assert not await crs.exists("apikey:tag:other")

    plan, _ = await service.plan_recovery(interrupted.id, "rollback")
    outcome, _ = await run(service, plan)
    assert outcome.status is OpStatus.DONE
    assert await crs_state(crs) == before
    again, _ = await run(service, await service.plan(targets, TagEdit.build("add", ["other"])))
    assert again.status is OpStatus.DONE


async def test_keys_stay_protected_after_a_rollback_of_them_is_cancelled(
    crs: aioredis.Redis,
) -> None:
    """The rollback took the interrupted op's claims over; cancelled half-way, it closes, but
    the op it undoes is still open (half undone): its keys must stay claimed for it."""
    before = await crs_state(crs)
    service = make_service(crs, chunk_size=100)
    targets = await ids_where(service, "tag:bulk")
    stream = service.run(await service.plan(targets, TagEdit.build("add", ["left"])))
    async for event in stream:
        if event.phase is Phase.APPLYING and event.done >= 300:
            break
    await stream.aclose()
    (interrupted,) = await service.interrupted_operations()
    written = sorted(await crs.smembers("apikey:tag:left"))
    assert len(written) >= 300

    cancel = asyncio.Event()

    async def cancel_after_the_first_chunk(index: int) -> None:
        if index == 1:
            cancel.set()

    service.config.runner.before_chunk = cancel_after_the_first_chunk
    plan, _ = await service.plan_recovery(interrupted.id, "rollback")
    cancelled, _ = await run(service, plan, cancel)
    service.config.runner.before_chunk = None
    assert cancelled.status is OpStatus.CANCELLED
    assert (await service.op(interrupted.id)).status is OpStatus.RUNNING

    # Those it restored as well as those it did not reach: the op is still half undone.
    for keys in (written[:100], written[-100:]):
        other, _ = await run(service, await service.plan(keys, TagEdit.build("add", ["other"])))
        assert other.refused_by_lock and interrupted.id in other.message, other
    assert not await crs.exists("apikey:tag:other")

    plan, _ = await service.plan_recovery(interrupted.id, "rollback")
    finished, _ = await run(service, plan)
    assert finished.status is OpStatus.DONE
    assert await crs_state(crs) == before
    assert (await service.op(interrupted.id)).status is OpStatus.ROLLED_BACK
    assert set(await crs.hmget(names.KEY_LOCKS, targets)) == {None}  # all free once closed


async def test_an_interrupted_op_behind_hundreds_of_newer_ops_is_still_found(
    crs: aioredis.Redis,
) -> None:
    """Its keys stay claimed however old it is, so it must stay listed for recovery (only the
    200 newest ops were looked at)."""
    service = make_service(crs, chunk_size=100)
    targets = await ids_where(service, "tag:bulk")
    stream = service.run(await service.plan(targets, TagEdit.build("add", ["old"])))
    async for event in stream:
        if event.phase is Phase.APPLYING and event.done >= 100:
            break
    await stream.aclose()
    (interrupted,) = await service.interrupted_operations()
    store = OperationStore(crs)
    for n in range(700):  # a busy month of finished work since
        later = interrupted.model_copy(
            update={
                "id": f"later-{n:04d}", "status": OpStatus.DONE,
                "started_at": interrupted.started_at + 1 + n,
            }
        )  # fmt: skip
        await store.save(later)
    assert [r.id for r in await service.interrupted_operations()] == [interrupted.id]
    other, _ = await run(service, await service.plan(targets, TagEdit.build("add", ["other"])))
    assert other.refused_by_lock and interrupted.id in other.message
