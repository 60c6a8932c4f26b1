"""Loading a CRS Redis dump (tests/fixtures, see its README) into a Redis, and snapshotting one back."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from keyops.core.seeding.writer import write_entries

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CRS_FIXTURE = FIXTURES / "crs-1.1.314-redis.json"


@cache
def _fixture_text() -> str:
    return CRS_FIXTURE.read_text(encoding="utf-8")


def crs_fixture() -> dict[str, dict[str, Any]]:
    """A fresh copy of the fixture's entries (the caller may mutate it)."""
    entries: dict[str, dict[str, Any]] = json.loads(_fixture_text())["keys"]
    return entries


async def load_dump(client: aioredis.Redis, entries: dict[str, dict[str, Any]]) -> None:
    await write_entries(client, entries)


async def snapshot(client: aioredis.Redis) -> dict[str, tuple[str, Any]]:
    """Every key's type and value, comparable with ==. (TTLs are compared separately.)"""
    state: dict[str, tuple[str, Any]] = {}
    async for name in client.scan_iter(count=1000):
        kind = await client.type(name)
        if kind == "hash":
            value: Any = await client.hgetall(name)
        elif kind == "set":
            value = sorted(await client.smembers(name))
        elif kind == "zset":
            value = await client.zrange(name, 0, -1, withscores=True)
        elif kind == "string":
            value = await client.get(name)
        elif kind == "list":
            value = await client.lrange(name, 0, -1)
        else:
            value = None
        state[name] = (kind, value)
    return state


def dump_as_state(entries: dict[str, dict[str, Any]]) -> dict[str, tuple[str, Any]]:
    """The fixture in the same shape `snapshot` returns, for comparing against Redis."""
    state: dict[str, tuple[str, Any]] = {}
    for name, entry in entries.items():
        kind, value = entry["type"], entry["value"]
        if kind == "set":
            value = sorted(value)
        elif kind == "zset":
            value = sorted(
                ((member, float(score)) for member, score in value), key=lambda p: (p[1], p[0])
            )
        state[name] = (kind, value)
    return state
