"""A keyops process SIGKILLed mid-operation is found on the next start and recovered."""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from keyops.core.batch.identity import OperatorIdentity
from keyops.core.batch.operations import OperationRecord, OperationStore, OpStatus
from keyops.core.edits.registry import OpType
from tests.engine.conftest import crs_state, make_service, run
from tests.support.invariants import crs_index_problems
from tests.support.redis_server import RedisServer
from tests.support.slow_batch import kill_mid_batch


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
