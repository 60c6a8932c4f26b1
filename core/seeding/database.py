"""Seeding a whole Redis DB, safely: refuse real CRS data, and redo an interrupted seed.

A seed into an empty DB first writes a marker (`keyops:seeded`, state "writing", with the key
count and random seed) and sets it to "done" at the end. A DB whose marker still says
"writing" was cut off mid-seed (Ctrl+C, a crash): every key record in it was written by that
seed, so `seed` may take it down again and start over without --force. A DB with a finished
seed is refused unless --force (trials may have run on it since; --force adds to it). A DB
with CRS data and no marker is refused even with --force: it may hold a live relay's keys.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

import redis.asyncio as aioredis

from keyops.core.errors import BadInput
from keyops.core.schema import layout
from keyops.core.seeding.indexes import build_indexes
from keyops.core.seeding.writer import SeedProgress, seed_dataset, seed_records
from keyops.core.store.probe import holds_crs_data

SEED_MARKER = "keyops:seeded"  # HASH: state, keys, seed, started_at (epoch s)
DELETE_CHUNK = 1000


class SeedState(StrEnum):
    WRITING = "writing"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class SeedMark:
    state: SeedState
    keys: int
    seed: int
    started_at: float


async def read_mark(client: aioredis.Redis) -> SeedMark | None:
    fields = cast(dict[str, str], await client.hgetall(SEED_MARKER))
    try:
        return SeedMark(
            SeedState(fields["state"]),
            int(fields["keys"]),
            int(fields["seed"]),
            float(fields.get("started_at", 0)),
        )
    except (KeyError, ValueError):
        return None  # no marker, or not one keyops wrote: treat the DB as not seeded by keyops


async def _mark_started(client: aioredis.Redis, keys: int, seed: int) -> None:
    await client.hset(
        SEED_MARKER,
        mapping={"state": SeedState.WRITING.value, "keys": keys, "seed": seed,
                 "started_at": time.time()},
    )  # fmt: skip


async def undo_interrupted_seed(client: aioredis.Redis, mark: SeedMark) -> int:
    """Deletes the key records and indexes the interrupted seed `mark` describes and returns how
    many records it found. Refuses if the DB holds a key record that seed would not have
    written: then someone else wrote keys here, and nothing is deleted."""
    records = dict(seed_records(mark.keys, seed=mark.seed))
    found = 0
    cursor = 0
    while True:
        cursor, names = await client.scan(cursor, match="apikey:*", count=1000)
        for name in names:
            key_id = layout.key_id_from_redis_key(str(name))
            if key_id is None:
                continue
            if key_id not in records:
                raise BadInput(
                    f"this DB holds key {key_id}, which keyops's interrupted seed did not write; "
                    "refusing to seed over it (use an empty DB, or --force to add to it)"
                )
            found += 1
        if cursor == 0:
            break
    indexes = build_indexes(records)
    names = [layout.api_key(key_id) for key_id in records]
    names += [*indexes.sets, *indexes.zsets, layout.HASH_MAP, layout.INDEX_VERSION]
    for start in range(0, len(names), DELETE_CHUNK):
        await client.delete(*names[start : start + DELETE_CHUNK])
    return found


async def seed_database(
    client: aioredis.Redis,
    key_count: int,
    *,
    seed: int = 7,
    force: bool = False,
    endpoint: str = "this DB",
    progress: SeedProgress | None = None,
) -> int:
    """Seeds `key_count` keys; see the module's docstring for when it refuses."""
    mark = await read_mark(client)
    fresh = mark is None and not await holds_crs_data(client)
    if not fresh and mark is None:
        # CRS data keyops did not seed may be a live relay's keys: --force never writes
        # test data among them.
        raise BadInput(
            f"{endpoint} holds CRS data keyops did not seed; refusing to seed into it, with "
            "or without --force (use an empty DB)"
        )
    if not fresh and mark is not None:
        if mark.state is SeedState.DONE and not force:
            raise BadInput(
                f"{endpoint} already holds CRS data (keyops seeded {mark.keys} keys here); "
                "refusing to seed again (use an empty DB, or --force to add to it)"
            )
        if mark.state is SeedState.WRITING:
            # Refuses (and deletes nothing) when a key record the cut-off seed did not write
            # is there, --force or not.
            await undo_interrupted_seed(client, mark)
            fresh = True
    if fresh:  # only a DB keyops alone filled carries the marker
        await _mark_started(client, key_count, seed)
    written = await seed_dataset(client, key_count, seed=seed, progress=progress)
    if fresh:
        await client.hset(SEED_MARKER, "state", SeedState.DONE.value)
    return written
