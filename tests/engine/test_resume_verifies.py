"""A resumed operation (or a finished rollback) answers for the keys its killed run wrote, not
only for the rest.

Found by the stateful test (tests/integration/test_state_machine.py): verify, which re-applies
what a CRS whole-hash rewrite put back, runs at the end of a batch; a process killed before then
never verifies the keys it wrote, and `ops recover --resume` only writes and verifies the keys
the killed run did not reach. A relayed request that read a key before keyops wrote it and wrote
it back after left the key without the change for good, while keyops's index update stayed
(`apikey:tag:x` lists a key whose record lacks the tag), and the resumed operation said done.
"""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from keyops.core.batch.operations import OpStatus
from tests.engine.conftest import make_service
from tests.support import crs_actors, slow_batch
from tests.support.invariants import crs_index_problems
from tests.support.redis_server import RedisServer

TAG = "resumed-after-rewrite"


async def test_a_resume_re_applies_what_crs_put_back_before_the_kill(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    bulk = sorted(await crs.smembers("apikey:tag:bulk"))
    pipe = crs.pipeline(transaction=False)
    for key_id in bulk:
        pipe.hgetall(f"apikey:{key_id}")
    read_by_requests = dict(zip(bulk, await pipe.execute(), strict=True))

    rewritten = ""

    async def a_request_saves_what_it_read() -> None:
        # A request in flight read this key before keyops wrote it, and saves it now.
        nonlocal rewritten
        rewritten = sorted(await crs.smembers(f"apikey:tag:{TAG}"))[0]
        await crs_actors.record_usage(crs, rewritten, read_by_requests[rewritten])

    # Another keyops process tags the bulk keys; it stops at its fourth chunk, 300 keys
    # written, and is killed there, before it could verify anything.
    await slow_batch.kill_mid_batch(
        crs, redis_server.url, "tag:bulk", TAG, while_stalled=a_request_saves_what_it_read
    )

    service = make_service(crs)
    (interrupted,) = await service.interrupted_operations()
    plan, resume = await service.plan_recovery(interrupted.id, "resume")
    events = [event async for event in service.run_recovery(plan, resume)]
    outcome = events[-1].outcome
    assert outcome is not None and outcome.status is OpStatus.DONE

    tags = json.loads(await crs.hget(f"apikey:{rewritten}", "tags"))
    assert TAG in tags, "the resumed op is done, but a key it wrote lost the tag to CRS"
    assert await crs_index_problems(crs) == []


async def test_finishing_a_killed_rollback_undoes_again_what_crs_put_back(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    """The same for a rollback killed mid-way: a key it restored, then a request that read
    it before the rollback saved it whole again (holding the op's change). Finishing that
    rollback once planned only the keys it had not reached; verify re-read the restored key,
    found the op's change back, and asked the undo what to do with a key outside the keys
    planned: "nothing", so the op closed rolled back while the key held its tag."""
    tag = "rolled-back-under-rewrite"
    await slow_batch.kill_mid_batch(crs, redis_server.url, "tag:bulk", tag)
    service = make_service(crs)
    (op,) = await service.interrupted_operations()
    written = sorted(await crs.smembers(f"apikey:tag:{tag}"))
    assert len(written) == 300
    pipe = crs.pipeline(transaction=False)
    for key_id in written:
        pipe.hgetall(f"apikey:{key_id}")
    read_by_requests = dict(zip(written, await pipe.execute(), strict=True))
    rewritten = ""

    async def a_request_saves_what_it_read() -> None:
        nonlocal rewritten
        still = await crs.smembers(f"apikey:tag:{tag}")
        rewritten = next(key_id for key_id in written if key_id not in still)
        await crs_actors.record_usage(crs, rewritten, read_by_requests[rewritten])

    # Its rollback restores two chunks of 100, then is killed before it verifies them.
    await slow_batch.kill_mid_batch(
        crs, redis_server.url, "--recover", op.id, "rollback", "2",
        while_stalled=a_request_saves_what_it_read,
    )  # fmt: skip
    assert tag in json.loads(await crs.hget(f"apikey:{rewritten}", "tags"))

    plan, resume = await service.plan_recovery(op.id, "rollback")
    assert resume is not None and resume.reverts == op.id  # it finishes the killed rollback
    events = [event async for event in service.run_recovery(plan, resume)]
    outcome = events[-1].outcome
    assert outcome is not None and outcome.status is OpStatus.DONE, outcome
    assert (await service.op(op.id)).status is OpStatus.ROLLED_BACK

    tags = json.loads(await crs.hget(f"apikey:{rewritten}", "tags"))
    assert tag not in tags, "the op is closed rolled back, but a key still holds its tag"
    assert not await crs.exists(f"apikey:tag:{tag}")
    assert await crs_index_problems(crs) == []
