"""One SCAN of the whole keyspace, shared by every reader of a load that looks for records by
name prefix (key records missing from `apikey:idx:all`, accounts of a store whose index set is
empty).

Each SCAN visits every key in Redis, and a CRS keeps far more usage counters than records:
at 100,000 keys a walk visits over a million names, so a load walks once, not once per reader.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import cast

import redis.asyncio as aioredis

from keyops.core.schema import layout
from keyops.core.schema.platforms import ACCOUNT_STORES

# Names a call returns at most: short calls, since the live relay shares this Redis
# (bench/index_reconcile).
SCAN_COUNT = 1000

# Every prefix a load may look under: key records and each account store's records.
LOAD_PREFIXES: tuple[str, ...] = (
    layout.API_KEY_PREFIX,
    *(store.record_prefix for store in ACCOUNT_STORES.values()),
)


def _char_class(chars: Iterable[str]) -> str:
    # Escaped one by one: a prefix may hold a character that means something inside [].
    return "[" + "".join("\\" + char for char in sorted(set(chars))) + "]"


def coarse_pattern(prefixes: Iterable[str]) -> str:
    """A MATCH pattern that every name under one of `prefixes` matches: the classes of their
    first two characters. Redis drops most other names itself (`usage:`, `rate_limit:`,
    `concurrency:` …), which costs it less than sending them; the exact prefix is checked
    here. A SCAN takes one pattern and one TYPE, so readers of hashes and of strings share it
    only without TYPE."""
    prefixes = list(prefixes)
    if not prefixes or any(len(prefix) < 2 for prefix in prefixes):
        return "*"
    return _char_class(p[0] for p in prefixes) + _char_class(p[1] for p in prefixes) + "*"


class KeyspaceWalk:
    """The names under each of `prefixes`, found by one SCAN the first reader runs; the
    others wait for it and share its result. A reader cancelled mid-walk leaves it to the
    next one to start again."""

    def __init__(self, client: aioredis.Redis, prefixes: Iterable[str] = LOAD_PREFIXES) -> None:
        self._client = client
        self._prefixes = tuple(dict.fromkeys(prefixes))
        if not all(self._prefixes):
            raise ValueError(
                "a walk looks under non-empty prefixes"
            )  # names are matched by their first character
        self._lock = asyncio.Lock()
        self._found: dict[str, list[str]] | None = None

    async def under(self, prefix: str) -> list[str]:
        """What follows `prefix` in every name under it, in SCAN order (repeats dropped)."""
        if prefix not in self._prefixes:
            raise ValueError(f"this walk does not look under {prefix!r}")
        async with self._lock:
            if self._found is None:
                self._found = await self._walk()
        return self._found[prefix]

    def _filters(self) -> dict[str, str]:
        """What Redis filters by before it replies (bench/keyspace_walk compares others)."""
        return {"match": coarse_pattern(self._prefixes)}

    async def _walk(self) -> dict[str, list[str]]:
        found: dict[str, dict[str, None]] = {prefix: {} for prefix in self._prefixes}
        # Each name is tried only against the prefixes that start with its first character
        # (one or two of eleven): every prefix in turn was ~1 us a name, 0.1 s at 100,000 keys.
        candidates: dict[str, list[tuple[str, int, dict[str, None]]]] = {}
        for prefix, rests in found.items():
            candidates.setdefault(prefix[:1], []).append((prefix, len(prefix), rests))
        filters = self._filters()
        cursor = 0
        while True:
            cursor, names = await self._client.scan(cursor, count=SCAN_COUNT, **filters)
            for name in cast(list[str], names):  # every keyops client decodes replies to str
                for prefix, size, rests in candidates.get(name[:1], ()):
                    if name.startswith(prefix):
                        rests[name[size:]] = None
            if cursor == 0:
                return {prefix: list(rests) for prefix, rests in found.items()}
