"""How batches run: chunk size, audit policy, verify timing, retries, lock TTL.

No setting trims the audit trail or can make an audit write fail: trimming is the explicit,
audited `keyops audit trim` (batch/audit.py).

Plain settings with no engine behind them, so front ends can build them without importing the
batch engine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from keyops.core.retry import RETRIES

# Each script call holds Redis (and the live relay sharing it) for its whole run. A field edit
# costs Redis about 20 us a key (the fastest calls SLOWLOG kept: 100 keys 2.0-2.2 ms, 50 keys
# 0.8-1.0 ms), and a core shared with other processes stretches a call several times over
# (100-key calls: median 4-6 ms, tail 20-40 ms at load 7 on 2 cores). 50 keys keeps a call near
# 1 ms, so it stays far below 10 ms even stretched. Redis CPU per key measured the same at 100,
# 50 and 25; keyops's own grew by up to 14 % (a tag add, the cheapest edit: one more send and
# poll a chunk). `./dev bench batch_limits --slowlog-us 1000` reports the calls by size
# (bench/results/batch_limits.txt).
CHUNK_SIZE = 50
# A lock whose holder stops renewing is free after this long (a crashed keyops frees its keys).
LOCK_TTL_MS = 30_000

ChunkHook = Callable[[int], Awaitable[None]]


@dataclass(slots=True)
class RunnerSettings:
    chunk_size: int = CHUNK_SIZE
    audit_policy: str = "block"  # or "warn"
    # How long after writing a key verify re-reads it: every CRS rewrite that read the key
    # before keyops wrote it must have landed by then. CRS's rewrite (recordUsage: HGETALL, set
    # lastUsedAt, HSET the whole hash, with only JavaScript between read and write) measured
    # 0.5 ms typical in Node; the longest window at a busy relay's rate (100-300 rewrites/s,
    # also with both cores of the host kept busy) was 72 ms, so 250 ms leaves over 3x. Only a
    # relay whose event loop is saturated stretches windows to its backlog (170-265 ms at 64
    # rewrites in flight): no fixed wait covers that. bench/crs_rewrite_window.py measures it.
    verify_delay: float = 0.25
    verify_rounds: int = 3
    conflict_retries: int = 2
    transient_retries: int = RETRIES
    lock_ttl_ms: int = LOCK_TTL_MS
    # Test seam: awaited before each chunk is written (fault injection, concurrent writers).
    before_chunk: ChunkHook | None = None


@dataclass(frozen=True, slots=True)
class BatchConfig:
    runner: RunnerSettings = field(default_factory=RunnerSettings)


# A delete, restore or their undo makes about twenty Redis calls a key inside the script
# (hash_map entry, legacy copy, four cost ranks, both status sets) where a field edit makes two
# or three: about 55 us a key (40 keys: 2.1-2.4 ms at the fastest, median 8 ms and tail 45 ms at
# load 7), so such chunks carry 20 keys (about 1.1 ms), as cheap per key as 40
# (bench/results/keys_delete.txt).
LIFECYCLE_CHUNK = 20
LIFECYCLE_FIELD = "@lifecycle"  # schema.writes.LIFECYCLE (this module imports no schema)


def chunk_size_for(plans: Sequence[Any], default: int) -> int:
    """The chunk size for these write plans: smaller when any of them deletes or restores."""
    seen: set[int] = set()
    for plan in plans:
        if id(plan.fields) in seen:
            continue
        seen.add(id(plan.fields))
        if any(write.field == LIFECYCLE_FIELD for write in plan.fields):
            return min(default, LIFECYCLE_CHUNK)
    return default
