"""Loading a CRS Redis dump (tests/fixtures, see its README) into a Redis, and snapshotting one back."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from keyops.core.seeding.writer import write_entries

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CRS_FIXTURE = FIXTURES / "crs-1.1.314-redis.json"
USAGE_FIXTURE = FIXTURES / "crs-1.1.314-usage-redis.json"
USAGE_README = FIXTURES / "crs-1.1.314-usage-README.md"


@cache
def _fixture_text() -> str:
    return CRS_FIXTURE.read_text(encoding="utf-8")


def crs_fixture() -> dict[str, dict[str, Any]]:
    """A fresh copy of the fixture's entries (the caller may mutate it)."""
    entries: dict[str, dict[str, Any]] = json.loads(_fixture_text())["keys"]
    return entries


def usage_fixture() -> dict[str, dict[str, Any]]:
    """The usage dump (a CRS that served 534 requests) without TTLs: its window counters and
    concurrency lease would otherwise expire minutes after loading (see its README)."""
    entries: dict[str, dict[str, Any]] = json.loads(USAGE_FIXTURE.read_text(encoding="utf-8"))[
        "keys"
    ]
    return {name: {**entry, "ttl": None} for name, entry in entries.items()}


def usage_expected() -> dict[str, Any]:
    """The values CRS's admin API reported at dump time: the README's machine-readable block."""
    text = USAGE_README.read_text(encoding="utf-8")
    block = text.split("## Machine-readable expected values", 1)[1]
    body = block.split("```json", 1)[1].split("```", 1)[0]
    expected: dict[str, Any] = json.loads(body)
    return expected


def crs_fixture_subset(keep: Callable[[str, dict[str, str]], bool]) -> dict[str, dict[str, Any]]:
    """The fixture with only the key records `keep(id, fields)` admits: every index set, rank
    and the hash map lose the other keys' ids (a set left empty goes, as Redis drops it);
    accounts, groups and everything else stay as CRS wrote them."""
    entries = crs_fixture()
    records = {
        name.split(":", 1)[1]: entry["value"]
        for name, entry in entries.items()
        if name.count(":") == 1 and name.startswith("apikey:") and entry["type"] == "hash"
        and name != "apikey:hash_map"
    }  # fmt: skip
    kept = {key_id for key_id, fields in records.items() if keep(key_id, fields)}
    dropped = set(records) - kept
    out: dict[str, dict[str, Any]] = {}
    for name, entry in entries.items():
        if name.startswith("apikey:") and name.split(":", 1)[1] in dropped:
            continue
        value = entry["value"]
        if name == "apikey:hash_map":
            value = {digest: key_id for digest, key_id in value.items() if key_id in kept}
        elif name != "apikey:tags:all" and name.startswith(
            ("apikey:idx:", "apikey:set:", "apikey:tag:", "cost_rank:")
        ):
            if entry["type"] == "set":
                value = [member for member in value if member in kept]
            elif entry["type"] == "zset":
                value = [[m, s] for m, s in value if m.rsplit("\0", 1)[-1] in kept]
        if isinstance(value, list | dict) and not value:
            continue
        out[name] = {**entry, "value": value}
    return out


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
