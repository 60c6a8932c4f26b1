"""Loading every API key into lean rows, and reading one full record on demand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from keyops.core.schema import layout
from keyops.core.schema.rows import ROW_FIELDS, KeyRow, RowBuilder
from keyops.core.store.index_drift import IndexDrift
from keyops.core.store.keyspace_walk import KeyspaceWalk
from keyops.core.wire.chunks import chunked
from keyops.core.wire.pipelined import read_chunks
from keyops.core.wire.raw_script import WIRE_ERRORS

if TYPE_CHECKING:
    from keyops.core.schema.keys import ApiKeyRecord

# 1,000 keys a round trip: fewer pay for round trips, more hold Redis longer per call
# (bench/load_keys measures the load).
LOAD_CHUNK = 1000
# Rows built between two yields to the event loop (~2 ms of work on an idle machine).
ROWS_PER_TURN = 250
# Names the walk found, checked against the index between two yields (a few ms of work).
UNINDEXED_SLICE = 20_000


@dataclass(slots=True)
class KeyTable:
    rows: list[KeyRow] = field(default_factory=list)
    by_id: dict[str, KeyRow] = field(default_factory=dict)
    index_version: int = 0
    # Names that looked like key records but are not hashes, and index ids with no record.
    not_hashes: list[str] = field(default_factory=list)
    missing_ids: list[str] = field(default_factory=list)
    # Records that exist but `apikey:idx:all` does not list (loaded all the same).
    not_in_idx_all: list[str] = field(default_factory=list)

    def add(self, row: KeyRow) -> None:
        self.rows.append(row)
        self.by_id[row.id] = row

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[KeyRow]:
        return iter(self.rows)

    def replace(self, fresh: dict[str, KeyRow | None]) -> dict[str, KeyRow | None]:
        """Re-read rows take the loaded ones' values in place (so every list holding them sees
        it); None drops a key that is gone, in one pass over the rows. Returns the table's
        row for each key (None: dropped)."""
        taken: dict[str, KeyRow | None] = {}
        for key_id, read in fresh.items():
            row = self.by_id.get(key_id)
            if read is None:
                self.by_id.pop(key_id, None)
            elif row is None:
                self.add(read)
                row = read
            else:
                row.take(read)
            taken[key_id] = row if read is not None else None
        if any(read is None for read in fresh.values()):
            self.rows = [row for row in self.rows if row.id in self.by_id]
        return taken

    @property
    def index_ready(self) -> bool:
        return self.index_version >= layout.INDEX_READY_VERSION

    @property
    def drift(self) -> IndexDrift:
        """Where CRS's indexes disagree with the records this table was loaded from."""
        return IndexDrift(
            self.index_version,
            tuple(self.not_in_idx_all),
            tuple(self.missing_ids),
            tuple(self.not_hashes),
        )


async def read_index_version(client: aioredis.Redis) -> int:
    raw = await client.get(layout.INDEX_VERSION)
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        return 0


async def index_ids(client: aioredis.Redis) -> AsyncIterator[list[str]]:
    """The ids `apikey:idx:all` lists, in batches (SSCAN may repeat a member: the caller
    drops repeats)."""
    cursor = 0
    while True:
        cursor, found = await client.sscan(layout.IDX_ALL, cursor, count=LOAD_CHUNK)
        members = cast(list[str], found)  # every keyops client decodes replies to str
        if members:
            yield members
        if cursor == 0:
            return


async def record_ids(client: aioredis.Redis) -> AsyncIterator[list[str]]:
    """The ids of every `apikey:{id}` hash, found by SCAN (what exists, whatever the index says).

    TYPE hash is CRS's advice for Python readers; the two-part rule drops its bookkeeping keys.
    COUNT 1000 keeps each call short: the live relay shares this Redis (bench/index_reconcile).
    """
    cursor = 0
    while True:
        cursor, found = await client.scan(cursor, match="apikey:*", count=LOAD_CHUNK, _type="hash")
        ids = [
            key_id
            for name in cast(list[str], found)
            if (key_id := layout.key_id_from_redis_key(name)) is not None
        ]
        if ids:
            yield ids
        if cursor == 0:
            return


async def _scan_unindexed(walk: KeyspaceWalk, indexed: dict[str, None]) -> list[str]:
    """The records the walk finds that `indexed` lacks, in SCAN order (sorted out a slice at a
    time: one pass over 100,000 ids after the scan held the event loop for ~20 ms)."""
    rests = await walk.under(layout.API_KEY_PREFIX)
    unindexed: list[str] = []
    for start in range(0, len(rests), UNINDEXED_SLICE):
        # Nearly every record is indexed, and an indexed id is never added: one lookup drops
        # it before its name is parsed (parsing every name cost ~0.1 s at 100,000 keys).
        for rest in [
            rest for rest in rests[start : start + UNINDEXED_SLICE] if rest not in indexed
        ]:
            key_id = layout.key_id_from_redis_key(layout.API_KEY_PREFIX + rest)
            if key_id is not None and key_id not in indexed:
                unindexed.append(key_id)
        await asyncio.sleep(0)
    return unindexed


def _resp_bulk(value: str) -> bytes:
    data = value.encode("utf-8", WIRE_ERRORS)  # an id that is not UTF-8 names its own key
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _hmget_payload(ids: list[str], fields: tuple[str, ...]) -> bytes:
    """HMGET of `fields` for each id, encoded once for all: only the key name differs.

    Encoding each command through redis-py's generic packer cost more than Redis's own work
    (about 13 us of the 40 us per key measured with a plain async pipeline at 100,000 keys).
    """
    head = b"*%d\r\n$5\r\nHMGET\r\n" % (2 + len(fields))
    tail = b"".join(_resp_bulk(name) for name in fields)
    return b"".join(head + _resp_bulk(layout.api_key(key_id)) + tail for key_id in ids)


async def read_fields(
    client: aioredis.Redis, chunks: list[list[str]], fields: tuple[str, ...] = ROW_FIELDS
) -> AsyncIterator[tuple[list[str], list[Any]]]:
    """HMGET of `fields` for each chunk of ids; an error reply stays in its place (pipelined,
    read ahead and retried as `wire.pipelined` does)."""
    async for chunk, replies in read_chunks(
        client, chunks, lambda ids: (_hmget_payload(ids, fields), len(ids))
    ):
        yield chunk, replies


async def load_key_table(client: aioredis.Redis, walk: KeyspaceWalk | None = None) -> KeyTable:
    """Every key record as a lean row (deleted keys included; queries hide them by default).

    The ids come from `apikey:idx:all` when the index is ready, and a SCAN of the whole
    keyspace finds every record the index lacks: such a key is one CRS's admin list hides,
    and keyops must still list and target it, or a batch "done" on a query would leave it
    untouched. The SCAN runs on its own connection while the indexed rows are read, so most
    of its cost is hidden behind theirs (bench/index_reconcile measures both); `walk` shares
    it with the other readers of the same load (the accounts).
    """
    walk = walk if walk is not None else KeyspaceWalk(client, (layout.API_KEY_PREFIX,))
    table = KeyTable(index_version=await read_index_version(client))
    builder = RowBuilder()
    empty: list[str] = []

    async def read_rows(ids: list[str], *, found_by_scan: bool = False) -> None:
        add, build = table.add, builder.build  # looked up once: 100,000 calls each
        async for chunk, replies in read_fields(client, list(chunked(ids, LOAD_CHUNK))):
            for start in range(0, len(chunk), ROWS_PER_TURN):
                end = start + ROWS_PER_TURN
                for key_id, reply in zip(chunk[start:end], replies[start:end], strict=True):
                    if isinstance(reply, ResponseError):
                        # Only an indexed id that is not a hash is drift: a name the walk
                        # found that is not a hash is no key record (CRS's scan skips it too).
                        if not found_by_scan:
                            table.not_hashes.append(layout.api_key(key_id))
                    elif reply[0] is None and reply.count(None) == len(reply):
                        # No field read at all (the first one is almost always there, which
                        # spares the count).
                        empty.append(key_id)
                    else:
                        add(build(key_id, reply))
                # Replies already buffered are read without a pause: yield every few hundred
                # rows, so a background reload holds the console's event loop a few ms at a
                # time (a whole chunk took 15-50 ms, more on a loaded machine).
                await asyncio.sleep(0)

    indexed: dict[str, None] = {}
    if table.index_ready:
        async for members in index_ids(client):  # SSCAN may repeat a member
            indexed.update(dict.fromkeys(members))
    scanning = asyncio.create_task(_scan_unindexed(walk, indexed))
    try:
        await read_rows(list(indexed))
    except BaseException:
        scanning.cancel()
        await asyncio.gather(scanning, return_exceptions=True)
        raise
    unindexed = list(dict.fromkeys(await scanning))  # SCAN may repeat a name
    if table.index_ready:
        table.not_in_idx_all.extend(unindexed)
    await read_rows(unindexed, found_by_scan=True)
    # None of the fields a row shows: a missing record, or a hash holding other fields only.
    present = await existing(client, empty)
    for key_id in empty:
        if key_id in present:
            table.add(builder.build(key_id, [None] * len(ROW_FIELDS)))
        else:
            table.missing_ids.append(key_id)
    return table


async def reread_rows(client: aioredis.Redis, key_ids: list[str]) -> dict[str, KeyRow | None]:
    """The rows of these keys as Redis holds them now; None for a key whose record is gone.
    What the console's live refresh reads for the rows on screen (one round trip for a page)."""
    builder = RowBuilder()
    rows: dict[str, KeyRow | None] = {}
    empty: list[str] = []
    async for chunk, replies in read_fields(client, list(chunked(key_ids, LOAD_CHUNK))):
        for key_id, reply in zip(chunk, replies, strict=True):
            if isinstance(reply, ResponseError):
                rows[key_id] = None  # no longer a hash: not a key record any more
            elif reply.count(None) == len(reply):
                empty.append(key_id)
            else:
                rows[key_id] = builder.build(key_id, reply)
    present = await existing(client, empty) if empty else set()
    for key_id in empty:
        rows[key_id] = (
            builder.build(key_id, [None] * len(ROW_FIELDS)) if key_id in present else None
        )
    return rows


async def existing(client: aioredis.Redis, key_ids: list[str]) -> set[str]:
    """Which of these keys have a record. A record may lack every field a reader asked for
    (older CRS wrote no `tags`, `isDeleted` or `updatedAt`), so "no fields" is not "no key"."""
    present: set[str] = set()
    for chunk in chunked(key_ids, LOAD_CHUNK):
        pipe = client.pipeline(transaction=False)
        for key_id in chunk:
            pipe.exists(layout.api_key(key_id))
        for key_id, count in zip(chunk, await pipe.execute(), strict=True):
            if count:
                present.add(key_id)
    return present


async def fetch_record(client: aioredis.Redis, key_id: str) -> ApiKeyRecord | None:
    """The full decoded record, or None if the key does not exist (or is not a hash)."""
    try:
        raw = cast(dict[str, str], await client.hgetall(layout.api_key(key_id)))
    except ResponseError:
        return None
    if not raw:
        return None
    # The full record is a pydantic model, wanted only for one key's details: imported here so
    # that listing keys does not load pydantic.
    from keyops.core.schema.keys import ApiKeyRecord

    return ApiKeyRecord.from_redis(key_id, raw)


async def read_current(
    client: aioredis.Redis, key_ids: list[str], fields: tuple[str, ...]
) -> dict[str, dict[str, str] | None]:
    """The stored strings of `fields` per key; None for a key that is missing or not a hash."""
    current: dict[str, dict[str, str] | None] = {}
    empty: list[str] = []
    async for chunk, replies in read_fields(client, list(chunked(key_ids, LOAD_CHUNK)), fields):
        for key_id, reply in zip(chunk, replies, strict=True):
            if isinstance(reply, ResponseError):
                current[key_id] = None
            elif reply.count(None) == len(reply):
                empty.append(key_id)
            else:
                current[key_id] = {
                    name: value
                    for name, value in zip(fields, reply, strict=True)
                    if value is not None
                }
    present = await existing(client, empty)  # a record may hold none of these fields
    for key_id in empty:
        current[key_id] = {} if key_id in present else None
    return current
