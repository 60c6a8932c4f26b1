"""A cheap sign that the key list changed behind the console's back.

The console re-reads its rows on screen every few seconds; the whole list costs a second or
more at 100,000 keys, so it is read again only now and then, or as soon as this sign changes:
a key created or removed from CRS's index, an operation started or finished (by this operator
or another), a key lock taken or released. One pipelined round trip of four O(1) commands.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from keyops.core.batch import names
from keyops.core.schema import layout

Marker = tuple[Any, ...]


async def change_marker(client: aioredis.Redis) -> Marker:
    pipe = client.pipeline(transaction=False)
    pipe.scard(layout.IDX_ALL)
    pipe.zcard(names.OPS_INDEX)
    pipe.hlen(names.KEY_LOCKS)
    # The newest audit entry's id: every batch writes one when it starts and when it ends.
    pipe.xrevrange(names.AUDIT_STREAM, count=1)
    scard, ops, locks, newest = await pipe.execute()
    return (scard, ops, locks, newest[0][0] if newest else "")
