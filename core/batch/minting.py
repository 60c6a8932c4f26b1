"""Running `keys create`: the raw keys are made and written to the operator's file (durably)
before any of them exists in Redis, then the keys are written chunk by chunk; a failure or a
cancel removes every key this run wrote.

So a crash at any point leaves no key in Redis whose raw value is lost; at worst the file lists
keys that were never created. The file's last line says how the run ended (created, or rolled
back: none of its keys exist); a file without one was cut off, and `keys list --ids` on its
ids says which exist. The audit trail records the run, each chunk's ids and names, and the end;
never a raw key or a hash.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import redis.asyncio as aioredis

from keyops.core.batch.audit import AuditLog
from keyops.core.batch.operations import new_op_id
from keyops.core.edits.create import KeysCreate, record_fields
from keyops.core.errors import KeyopsError
from keyops.core.schema.api_secret import KeyMinter
from keyops.core.schema.encoding import encode_iso
from keyops.core.secret_file import note, write_new_secret_file, write_secret_stream
from keyops.core.store.create import CREATE_CHUNK, KeyCreator, NewKey


@dataclass(frozen=True, slots=True)
class CreateOutcome:
    op_id: str
    done: int  # keys created (or rotated) that exist now
    rolled_back: bool  # a failure or cancel removed every key the run wrote
    refused: int  # ids or hashes already present (practically never: uuid4, 256-bit secrets)
    message: str


async def run_create(
    client: aioredis.Redis,
    audit: AuditLog,
    by: dict[str, Any],
    request: KeysCreate,
    minter: KeyMinter,
    out: Path | TextIO,
    now: datetime,
    cancel: asyncio.Event | None = None,
    chunk_size: int = CREATE_CHUNK,
) -> CreateOutcome:
    op_id = new_op_id()
    raws: list[str] = [minter.new_raw() for _ in range(request.count)]
    keys = [
        NewKey(str(uuid.uuid4()), request.name_of(index + 1), minter.digest(raw))
        for index, raw in enumerate(raws)
    ]
    title = (
        f"keyops keys create, operation {op_id}, {encode_iso(now)}: {request.count} keys. "
        "Keep this file secret; CRS cannot show these keys again"
    )
    rows = ((key.key_id, key.name, raw) for key, raw in zip(keys, raws, strict=True))
    if isinstance(out, Path):
        write_new_secret_file(out, title, rows)
    else:
        write_secret_stream(out, title, rows)
    raws.clear()  # from here on only the file holds them
    sample = record_fields(request, "", "", "", now)
    shared = {name: value for name, value in sample.items() if name not in ("id", "name", "apiKey")}
    creator = KeyCreator(
        client, shared, request.tags, int(now.timestamp() * 1000), audit.stream, op_id
    )
    await creator.note_tags_before()
    await audit.op_event(
        op_id,
        "keys-create",
        {"by": by, "request": request.model_dump(mode="json"), "summary": request.summary,
         "file": str(out) if isinstance(out, Path) else "stdout"},
    )  # fmt: skip
    written: list[NewKey] = []
    refused = 0
    failure: str | None = None
    try:
        for start in range(0, len(keys), chunk_size):
            if cancel is not None and cancel.is_set():
                failure = "cancelled"
                break
            chunk = keys[start : start + chunk_size]
            # A chunk whose reply never came may have been written: the rollback takes it too.
            written.extend(chunk)
            replies = await creator.create(chunk)
            refused += replies.count("exists")
    except Exception as error:  # any failure (redis-py's, the network's): roll back
        failure = f"{type(error).__name__}: {error}"
    if failure is None and refused:
        failure = f"{refused} ids or hashes already existed"
    if failure is None:
        note_end(out, f"created: all {len(keys)} keys exist (operation {op_id})")
        await audit.try_op_event(op_id, "keys-create-done", {"created": len(keys)})
        return CreateOutcome(op_id, len(keys), False, 0, f"created {len(keys)} keys")
    try:
        removed = await creator.remove(written)
    except Exception as error:
        note_end(out, f"interrupted ({failure}), its rollback failed: some of these keys may exist")
        raise KeyopsError(
            f"keys create {failure}; removing what it wrote failed too ({error}): the keys of "
            f"operation {op_id} that exist are listed by 'keyops audit list --op {op_id}'"
        ) from error
    left = max(removed.count("not-ours") - refused, 0)
    note_end(
        out,
        f"rolled back ({failure}): none of these keys exist; do not hand them out "
        f"(operation {op_id})",
    )
    await audit.try_op_event(
        op_id, "keys-create-rolled-back", {"reason": failure, "removed": removed.count("removed")}
    )
    return CreateOutcome(
        op_id,
        0,
        True,
        refused,
        f"keys create {failure}: rolled back, no key of the file exists"
        + (f" ({left} were changed by someone else and left)" if left else ""),
    )


def note_end(out: Path | TextIO, text: str) -> None:
    if isinstance(out, Path):
        note(out, text)
    else:
        out.write(f"# {text}\n")
        out.flush()
