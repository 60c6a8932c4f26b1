"""Which operations look interrupted, found without parsing a record.

An op is interrupted when its record still says running and its lock lease is gone (its
process died or lost Redis). The console asks this once per start, and almost always the
answer is none: this module imports neither pydantic nor the batch engine, so that answer
costs the start a round trip per page of ops and nothing more; the records of the ops it
finds are parsed by `OperationStore.unfinished`.
"""

from __future__ import annotations

from typing import cast

import redis.asyncio as aioredis

from keyops.core.batch import names

# Records read per round trip: every op is looked at, not only recent ones (an old
# interrupted op keeps its keys claimed, and an operator must be able to find it).
SCAN_PAGE = 500
# What a running op's record JSON holds (pydantic writes it compact; OpStatus.RUNNING):
# a finished op's record is never parsed.
RUNNING_MARK = '"status":"running"'


async def interrupted_ids(client: aioredis.Redis) -> list[str]:
    """Ops whose record says running and whose lease is gone, newest first."""
    found: list[str] = []
    start = 0
    while True:
        ids = cast(list[str], await client.zrevrange(names.OPS_INDEX, start, start + SCAN_PAGE - 1))
        if not ids:
            return found
        start += len(ids)
        pipe = client.pipeline(transaction=False)
        for op_id in ids:
            pipe.hget(names.op_record(op_id), "json")
            pipe.exists(names.lease(op_id))
        replies = await pipe.execute()
        for op_id, raw, leased in zip(ids, replies[::2], replies[1::2], strict=True):
            if raw is not None and not leased and RUNNING_MARK in raw:
                found.append(op_id)
