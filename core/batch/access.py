"""What the connected Redis user may do, checked before anything is written.

A batch that meets a refused command half-way would leave a half-applied batch, so every
command a batch sends (the lock, the apply script's commands, the journal and the audit) is
checked first with `ACL DRYRUN` on a key of each kind it touches. Servers without ACL DRYRUN
(before Redis 7.0), or users not allowed to run it, cannot be checked: that is said, not
guessed. A user refused any of them gets a read-only console that names what is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from keyops.core.batch import names
from keyops.core.schema import layout

SAMPLE_ID = "00000000-0000-4000-8000-000000000000"
SAMPLE_KEY = layout.api_key(SAMPLE_ID)
SAMPLE_OP = "20260101-000000-000000"

# Writing an API key as CRS does (the apply script's commands, on each kind of key).
KEY_WRITES: tuple[tuple[str, ...], ...] = (
    ("HSET", SAMPLE_KEY, "tags", "[]"),
    ("HDEL", SAMPLE_KEY, "tags"),
    ("EXPIRE", SAMPLE_KEY, "1"),
    ("SADD", layout.tag_set("t"), SAMPLE_ID),
    ("SREM", layout.tag_set("t"), SAMPLE_ID),
    ("SCARD", layout.tag_set("t")),
    ("SADD", layout.TAGS_ALL, "t"),
    ("SREM", layout.TAGS_ALL, "t"),
    ("SADD", layout.SET_ACTIVE, SAMPLE_ID),
    ("SREM", layout.SET_DELETED, SAMPLE_ID),
    ("ZADD", layout.IDX_NAME, "0", "m"),
    ("ZREM", layout.IDX_NAME, "m"),
)
# keyops's own bookkeeping: scripts, lock, claims, journal, operation record, audit.
BOOKKEEPING: tuple[tuple[str, ...], ...] = (
    ("MULTI",),  # the operation record is saved in a transaction
    ("EXEC",),
    ("EVALSHA", "0" * 40, "0"),
    ("EVAL", "return 1", "0"),
    ("SCRIPT", "LOAD", "return 1"),
    ("INCRBY", names.FENCE_COUNTER, "1"),  # redis-py sends INCR as INCRBY
    ("SET", names.lease(SAMPLE_OP), "t", "PX", "1", "NX"),
    ("GET", names.lease(SAMPLE_OP)),
    ("PEXPIRE", names.lease(SAMPLE_OP), "1"),
    ("DEL", names.lease(SAMPLE_OP)),
    ("EXISTS", names.lease(SAMPLE_OP)),
    ("HMGET", names.KEY_LOCKS, SAMPLE_ID),
    ("HSET", names.KEY_LOCKS, SAMPLE_ID, SAMPLE_OP),
    ("HDEL", names.KEY_LOCKS, SAMPLE_ID),
    ("SADD", names.op_targets(SAMPLE_OP), SAMPLE_ID),
    ("HSET", names.op_journal(SAMPLE_OP), SAMPLE_ID, "{}"),
    ("HSET", names.op_record(SAMPLE_OP), "json", "{}"),
    ("ZADD", names.OPS_INDEX, "0", SAMPLE_OP),
    ("XADD", names.AUDIT_STREAM, "*", "op", SAMPLE_OP),
)
BATCH_COMMANDS = KEY_WRITES + BOOKKEEPING


@dataclass(frozen=True, slots=True)
class AccessCheck:
    user: str | None
    checked: bool  # False: the server or the user cannot run ACL DRYRUN
    refused: tuple[str, ...] = ()  # "HSET apikey:…: <why>" per refused command
    note: str = ""

    def describe(self) -> str:
        who = f"Redis user {self.user!r}" if self.user else "this Redis user"
        if not self.checked:
            return f"could not check what {who} may run: {self.note}"
        if not self.refused:
            return f"{who} may run every command a batch needs"
        shown = "; ".join(self.refused[:4]) + (
            f"; and {len(self.refused) - 4} more" if len(self.refused) > 4 else ""
        )
        return f"{who} may not run {len(self.refused)} command(s) a batch needs: {shown}"


async def check_batch_access(client: aioredis.Redis) -> AccessCheck:
    try:
        user = str(await client.execute_command("ACL", "WHOAMI"))  # type: ignore[no-untyped-call]
    except ResponseError as error:
        return AccessCheck(
            None, False, note=f"ACL WHOAMI refused ({error}); grant +acl|whoami +acl|dryrun"
        )
    except RedisError as error:
        return AccessCheck(None, False, note=str(error))
    refused: list[str] = []
    for command in BATCH_COMMANDS:
        try:
            reply = await client.execute_command("ACL", "DRYRUN", user, *command)  # type: ignore[no-untyped-call]
        except ResponseError as error:
            text = str(error)
            lowered = text.lower()
            if ("unknown" in lowered and "dryrun" in lowered) or "no permissions" in lowered:
                return AccessCheck(
                    user,
                    False,
                    note=f"ACL DRYRUN is not available to this user or server ({text}); grant +acl|dryrun",
                )
            refused.append(f"{' '.join(command[:2])}: {text}")
            continue
        if str(reply) != "OK":
            refused.append(f"{' '.join(command[:2])}: {cast(str, reply)}")
    return AccessCheck(user, True, tuple(refused))
