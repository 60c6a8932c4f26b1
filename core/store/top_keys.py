"""The keys highest on a usage figure, out of every key, without loading the key list.

`keys top` wants ten rows out of 100,000. The ids come from `apikey:idx:all`, and a SCAN of the
keyspace finds the records the index lacks (run on its own connection while the indexed keys are
read). For the figures one Redis value holds (`QUICK`: cost today or in all, requests or tokens
today) each key's read is that value alone, plus `isDeleted`/`isActive` of its record unless
deleted keys are ranked too: the costs as one MGET per 1,000 keys, the day's counters as a short
HMGET per key. The full usage (`load_usage`: the record's limit fields, then the counters)
is then read for the winners only, and their rows. The other figures need a key's limits or
reset day (`cost.week`, `limit`, the window figures) or are read beside them (`concurrency`):
every key's full usage is read for those, as `full_read=True` does for any figure.

Both reads give the same winners, in the same order, out of the same count of ranked keys: the
figures are read as the loader reads them (`crs_float`/`crs_int`: CRS's parseFloat/parseInt of odd
strings, a wrong type read as nothing), and a key is deleted when its `isDeleted` is "true" or
its record is gone (not a hash, or none of the fields the loader reads; only keys without
`isDeleted` and `isActive`, which CRS writes at creation, are read again to tell).
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from keyops.core.schema import layout
from keyops.core.schema.crs_numbers import crs_float, crs_int
from keyops.core.schema.rows import ROW_FIELDS, KeyRow, RowBuilder
from keyops.core.store.key_table import index_ids, read_fields, read_index_version, record_ids
from keyops.core.usage import names
from keyops.core.usage.figures import STATE_FIELDS, UsageTable
from keyops.core.usage.loader import DAILY_FIELDS, load_usage
from keyops.core.usage.periods import date_part
from keyops.core.wire.chunks import chunked
from keyops.core.wire.pipelined import read_chunks
from keyops.core.wire.resp_text import WIRE_ERRORS, IdTemplate, resp_bulk, resp_text

CHUNK = 1000
# Deleted or gone, read for every ranked key: `isActive` tells a record lacking `isDeleted`
# (every key never deleted) from one that is gone.
LIFE_FIELDS = ("isDeleted", "isActive")

T = TypeVar("T")


@dataclass(slots=True)
class Ranking:
    rows: list[KeyRow]  # highest first
    usage: UsageTable  # the winners' full usage (every ranked key's when all was read)
    ranked: int  # how many keys were ranked


@dataclass(frozen=True, slots=True)
class _Quick:
    """How one figure is read alone: one string per key (MGET), or fields of today's
    `usage:daily` hash added up."""

    string: Callable[[str, str], str] | None  # (key id, today) -> the string's name
    daily_fields: tuple[str, ...] = ()


QUICK: dict[str, _Quick] = {
    "cost.today": _Quick(names.daily_cost),
    "cost.total": _Quick(lambda key_id, _today: names.total_cost(key_id)),
    "requests.today": _Quick(None, DAILY_FIELDS[:1]),
    "tokens.today": _Quick(None, DAILY_FIELDS[1:]),
}


class _Encoder:
    """A chunk's reads as RESP bytes: the MGET of every key's string (one command for the
    chunk), or each key's HMGET of today's counters; then each key's HMGET of its life fields."""

    def __init__(self, quick: _Quick, today: str, *, life: bool) -> None:
        self.quick = quick
        self.life = life
        string, fields = quick.string, quick.daily_fields
        self.blocks: list[IdTemplate] = []
        if string is not None:
            self.blocks.append(IdTemplate(lambda key_id: resp_bulk(string(key_id, today))))
        else:
            self.blocks.append(
                IdTemplate(
                    lambda key_id: resp_text(["HMGET", names.daily_usage(key_id, today), *fields])
                )
            )
        if life:
            self.blocks.append(
                IdTemplate(
                    lambda key_id: resp_text(["HMGET", layout.api_key(key_id), *LIFE_FIELDS])
                )
            )

    def __call__(self, chunk: list[str]) -> tuple[bytes, int]:
        if not chunk:
            return b"", 0
        texts = [block.many(chunk) for block in self.blocks]
        replies = len(chunk) if self.life else 0
        if self.quick.string is not None:
            texts[0] = f"*{len(chunk) + 1}\r\n$4\r\nMGET\r\n" + texts[0]
            replies += 1
        else:
            replies += len(chunk)
        return "".join(texts).encode("utf-8", WIRE_ERRORS), replies


@dataclass(slots=True)
class _Scores:
    """Each ranked key as (-figure, id), the order `UsageTable.top` ranks by, and the keys
    whose record may be gone (neither life field), with their figure, to be read again."""

    ranked: list[tuple[float, str]]
    unsure: dict[str, float]


async def _read_quick(
    client: aioredis.Redis, key_ids: list[str], encoder: _Encoder, scores: _Scores
) -> None:
    string = encoder.quick.string is not None
    ranked, unsure = scores.ranked, scores.unsure
    async for chunk, replies in read_chunks(client, list(chunked(key_ids, CHUNK)), encoder):
        count = len(chunk)
        values: list[float]
        if string:
            # MGET answers nil for a name of another type: the loader's MGET reads it as 0 too.
            values = list(map(crs_float, replies[0]))
            states = replies[1:]
        else:
            values = [
                0 if isinstance(daily, ResponseError) else sum(map(crs_int, daily))
                for daily in replies[:count]
            ]
            states = replies[count:]
        if not encoder.life:
            ranked.extend(zip([-value for value in values], chunk, strict=True))
        else:
            for key_id, value, state in zip(chunk, values, states, strict=True):
                if isinstance(state, ResponseError) or state[0] == "true":
                    continue  # not a hash (gone), or deleted
                if state[0] is None and state[1] is None:
                    unsure[key_id] = value
                else:
                    ranked.append((-value, key_id))
        await asyncio.sleep(0)  # one turn of the event loop per chunk, as the loader does


async def _settle_unsure(client: aioredis.Redis, scores: _Scores) -> None:
    """Keys without `isDeleted` and `isActive` count as present when their record holds any
    field the loader reads (else the loader calls them gone, i.e. deleted)."""
    for chunk in chunked(list(scores.unsure), CHUNK):
        pipe = client.pipeline(transaction=False)
        for key_id in chunk:
            pipe.hmget(layout.api_key(key_id), list(STATE_FIELDS))
        for key_id, state in zip(chunk, await pipe.execute(raise_on_error=False), strict=True):
            if not isinstance(state, ResponseError) and state.count(None) < len(state):
                scores.ranked.append((-scores.unsure[key_id], key_id))


async def _all_ids(
    client: aioredis.Redis, read: Callable[[list[str]], Awaitable[T]]
) -> tuple[list[str], list[T]]:
    """Every key id (indexed first, then the records only SCAN finds), and `read(ids)` of each
    part. The SCAN, the longest of the reads (it visits every name in Redis), starts first on its
    own connection; the index is read and the indexed part read meanwhile."""
    scanning = asyncio.create_task(_scanned(client))
    indexed: dict[str, None] = {}
    try:
        if await read_index_version(client) >= layout.INDEX_READY_VERSION:
            async for members in index_ids(client):  # SSCAN may repeat a member
                indexed.update(dict.fromkeys(members))
        results = [await read(list(indexed))]
    except BaseException:
        scanning.cancel()
        await asyncio.gather(scanning, return_exceptions=True)
        raise
    others = [key_id for key_id in dict.fromkeys(await scanning) if key_id not in indexed]
    if others:
        results.append(await read(others))
    return [*indexed, *others], results


async def _scanned(client: aioredis.Redis) -> list[str]:
    return [key_id async for ids in record_ids(client) for key_id in ids]


async def _rank_quick(
    client: aioredis.Redis, quick: _Quick, count: int, *, include_deleted: bool, now: float,
    offset: int,
) -> tuple[list[str], int]:  # fmt: skip
    """The winners on a QUICK figure, highest first (ties by id), and how many were ranked."""
    encoder = _Encoder(quick, date_part(now, offset), life=not include_deleted)
    scores = _Scores([], {})
    await _all_ids(client, lambda ids: _read_quick(client, ids, encoder, scores))
    await _settle_unsure(client, scores)
    return [key_id for _, key_id in heapq.nsmallest(count, scores.ranked)], len(scores.ranked)


async def rank_every_key(
    client: aioredis.Redis,
    by: str,
    count: int,
    *,
    include_deleted: bool,
    now: float,
    offset: int,
    full_read: bool = False,
) -> Ranking:
    """The `count` keys highest on `by`, highest first (ties by id), out of every key that is
    not deleted (or every key: `include_deleted`)."""
    quick = None if full_read else QUICK.get(by)
    if quick is not None:
        top, ranked = await _rank_quick(
            client, quick, count, include_deleted=include_deleted, now=now, offset=offset
        )
        usage = await load_usage(client, top, now=now, offset=offset)
        # Figures that moved between the two reads: the winners stay in the order of the
        # figures shown (the same order when nothing moved).
        top = usage.top(top, by, count)
    else:
        ids, tables = await _all_ids(
            client, lambda ids: load_usage(client, ids, now=now, offset=offset)
        )
        usage = tables[0]
        for table in tables[1:]:
            usage.by_id.update(table.by_id)
        if not include_deleted:
            ids = [key_id for key_id in ids if not usage.get(key_id).is_deleted]
        top = usage.top(ids, by, count)
        ranked = len(ids)
    rows: dict[str, KeyRow] = {}
    builder = RowBuilder()
    async for chunk, replies in read_fields(client, [top]):
        for key_id, reply in zip(chunk, replies, strict=True):
            if not isinstance(reply, ResponseError):
                rows[key_id] = builder.build(key_id, reply or [None] * len(ROW_FIELDS))
    return Ranking([rows[key_id] for key_id in top if key_id in rows], usage, ranked)
