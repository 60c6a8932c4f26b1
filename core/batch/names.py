"""Redis key names keyops keeps for itself, all under `keyops:` so they never meet CRS's."""

from __future__ import annotations

AUDIT_STREAM = "keyops:audit"
OPS_INDEX = "keyops:ops"  # ZSET: op id scored by start time (ms)
KEY_LOCKS = "keyops:keylocks"  # HASH: key id -> id of the op holding it
FENCE_COUNTER = "keyops:fence"  # INCR per lock; never deleted, so fences only grow


OP_RECORD_PREFIX = "keyops:op:"


def op_record(op_id: str) -> str:
    """HASH with one field, `json`: the operation record (operations.OperationRecord)."""
    return f"{OP_RECORD_PREFIX}{op_id}"


def op_journal(op_id: str) -> str:
    """HASH key id -> {field: [before, after]} of what the op wrote to that key."""
    return f"keyops:op:{op_id}:journal"


def op_targets(op_id: str) -> str:
    """SET of the key ids the op planned to write (what a resume continues with)."""
    return f"keyops:op:{op_id}:targets"


LEASE_PREFIX = "keyops:lease:"


def lease(op_id: str) -> str:
    """STRING holding the lock token while the op's lock is alive (PX TTL, heartbeat-renewed)."""
    return f"{LEASE_PREFIX}{op_id}"
