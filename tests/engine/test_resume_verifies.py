"""A resumed operation answers for the keys its killed run wrote, not only for the rest.

Found by the stateful test (tests/integration/test_state_machine.py): verify, which re-applies
what a CRS whole-hash rewrite put back, runs at the end of a batch; a process killed before then
never verifies the keys it wrote, and `ops recover --resume` only writes and verifies the keys
the killed run did not reach. A relayed request that read a key before keyops wrote it and wrote
it back after left the key without the change for good, while keyops's index update stayed
(`apikey:tag:x` lists a key whose record lacks the tag), and the resumed operation said done.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys

import pytest
import redis.asyncio as aioredis

from keyops.core.batch.operations import OpStatus
from tests.engine.conftest import make_service
from tests.support import crs_actors
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

    # Another keyops process tags the bulk keys; it stops at its fourth chunk, 300 keys written.
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.slow_batch", redis_server.url, "tag:bulk", TAG
    )
    try:
        for _ in range(300):
            if await crs.exists("test:stalled"):
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the batch never reached its fourth chunk")
        # A request in flight read this key before keyops wrote it, and saves it now.
        rewritten = sorted(await crs.smembers(f"apikey:tag:{TAG}"))[0]
        await crs_actors.record_usage(crs, rewritten, read_by_requests[rewritten])
    finally:
        child.send_signal(signal.SIGKILL)  # before it could verify anything
        await child.wait()
    await crs.delete("test:stalled")
    await asyncio.sleep(2.0)  # the dead process's 1.5 s lease runs out

    service = make_service(crs)
    (interrupted,) = await service.interrupted_operations()
    plan, resume = await service.plan_recovery(interrupted.id, "resume")
    events = [event async for event in service.run_recovery(plan, resume)]
    outcome = events[-1].outcome
    assert outcome is not None and outcome.status is OpStatus.DONE

    tags = json.loads(await crs.hget(f"apikey:{rewritten}", "tags"))
    assert TAG in tags, "the resumed op is done, but a key it wrote lost the tag to CRS"
    assert await crs_index_problems(crs) == []
