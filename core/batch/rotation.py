"""Running `keys rotate`: new raw keys are made and written to the operator's file (durably)
before any key changes in Redis, then each chunk switches its keys to the new hashes in one
script call; a failure or a cancel puts every old hash back (the old raw keys work again and
the file's keys never did).

A crash mid-run leaves each key either on its old hash or on a new one listed in the file: no
key ends up with a secret nobody has. The old hashes wait in `keyops:rotate:{op}` (expiring
after a day) for the rollback and are deleted when the run ends either way; a rotation that
finished cannot be reverted (bringing a leaked key back is what it exists to prevent: rotate
again instead).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import redis.asyncio as aioredis

from keyops.core.batch.audit import AuditLog
from keyops.core.batch.minting import CreateOutcome, note_end
from keyops.core.batch.operations import new_op_id
from keyops.core.errors import KeyopsError
from keyops.core.schema import layout
from keyops.core.schema.api_secret import KeyMinter
from keyops.core.schema.encoding import encode_iso
from keyops.core.secret_file import write_new_secret_file, write_secret_stream
from keyops.core.store.rotate import ROTATE_CHUNK, KeyRotator, Rotation
from keyops.core.wire.chunks import chunked


@dataclass(frozen=True, slots=True)
class RotatePreview:
    keys: list[tuple[str, str]]  # (id, name) of the keys a rotation gives new secrets
    skipped: list[str]  # soft-deleted, without a secret, or not a key record


async def read_rotate_targets(client: aioredis.Redis, key_ids: list[str]) -> RotatePreview:
    keys: list[tuple[str, str]] = []
    skipped: list[str] = []
    for chunk in chunked(key_ids, 1000):
        pipe = client.pipeline(transaction=False)
        for key_id in chunk:
            # Whether a secret is there, never its value.
            pipe.hmget(layout.api_key(key_id), ["isDeleted", "name"])
            pipe.hstrlen(layout.api_key(key_id), "apiKey")
        replies = await pipe.execute(raise_on_error=False)
        for index, key_id in enumerate(chunk):
            fields, length = replies[2 * index], replies[2 * index + 1]
            if (
                isinstance(fields, Exception)
                or isinstance(length, Exception)
                or not length
                or fields[0] == "true"
            ):
                skipped.append(key_id)
            else:
                keys.append((key_id, fields[1] or ""))
    return RotatePreview(keys, skipped)


async def run_rotate(
    client: aioredis.Redis,
    audit: AuditLog,
    by: dict[str, Any],
    preview: RotatePreview,
    minter: KeyMinter,
    out: Path | TextIO,
    now: datetime,
    cancel: asyncio.Event | None = None,
    chunk_size: int = ROTATE_CHUNK,
) -> CreateOutcome:
    op_id = new_op_id()
    raws = [minter.new_raw() for _ in preview.keys]
    keys = [
        Rotation(key_id, name, minter.digest(raw))
        for (key_id, name), raw in zip(preview.keys, raws, strict=True)
    ]
    title = (
        f"keyops keys rotate, operation {op_id}, {encode_iso(now)}: {len(keys)} keys get new raw "
        "keys; each old one stops working. Keep this file secret"
    )
    rows = ((key.key_id, key.name, raw) for key, raw in zip(keys, raws, strict=True))
    if isinstance(out, Path):
        write_new_secret_file(out, title, rows)
    else:
        write_secret_stream(out, title, rows)
    raws.clear()
    rotator = KeyRotator(client, op_id, encode_iso(now), audit.stream)
    await audit.op_event(
        op_id,
        "keys-rotate",
        {"by": by, "keys": len(keys), "file": str(out) if isinstance(out, Path) else "stdout"},
    )
    written: list[Rotation] = []
    done = 0
    left: dict[str, str] = {}
    failure: str | None = None
    try:
        for chunk in chunked(keys, chunk_size):
            if cancel is not None and cancel.is_set():
                failure = "cancelled"
                break
            written.extend(chunk)  # a chunk whose reply is lost may have been written
            for key, status in zip(chunk, await rotator.rotate(chunk), strict=True):
                if status == "rotated":
                    done += 1
                else:
                    left[key.key_id] = status
    except Exception as error:  # any failure (redis-py's, the network's): roll back
        failure = f"{type(error).__name__}: {error}"
    if failure is None:
        await rotator.forget()
        note_end(out, f"rotated: {done} keys hold the new raw keys above (operation {op_id})"
                 + (f"; {len(left)} not rotated: {', '.join(sorted(left))}" if left else ""))  # fmt: skip
        await audit.try_op_event(op_id, "keys-rotate-done", {"rotated": done, "left": left})
        message = f"rotated {done} keys" + (
            f", {len(left)} left alone since the preview" if left else ""
        )
        return CreateOutcome(op_id, done, False, len(left), message)
    try:
        restored = await rotator.unrotate(written)
        await rotator.forget()
    except Exception as error:
        note_end(out, f"interrupted ({failure}), its rollback failed: some keys may hold these")
        raise KeyopsError(
            f"keys rotate {failure}; putting the old keys back failed too ({error}): the keys "
            f"rotated are in 'keyops audit list --op {op_id}' and their new raw keys in the file"
        ) from error
    note_end(out, f"rolled back ({failure}): no key holds these; the old raw keys still work "
             f"(operation {op_id})")  # fmt: skip
    await audit.try_op_event(
        op_id,
        "keys-rotate-rolled-back",
        {"reason": failure, "restored": restored.count("restored")},
    )
    return CreateOutcome(
        op_id, 0, True, 0, f"keys rotate {failure}: rolled back, every key keeps its old raw key"
    )
