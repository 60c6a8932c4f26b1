"""Ctrl+C, SIGTERM and SIGHUP (the SSH link dropping) stop a CLI batch the way the operator's
cancel does: an atomic batch rolls back before the process exits, a best-effort one stops at a
chunk boundary, and the last lines say what state it left and the command that finishes or
undoes it. Keys of an operation interrupted anyway (SIGKILL) stay protected until it is
recovered. Each runs the real CLI in its own process against real redis-server."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from keyops.core.batch import names
from keyops.core.batch.audit import AuditFilter, AuditLog
from keyops.core.batch.operations import OperationRecord, OperationStore, OpStatus
from keyops.core.edits.registry import OpType
from keyops.core.logs import log_path
from tests.engine.conftest import crs_state
from tests.integration.test_cli import keyops
from tests.support.invariants import crs_index_problems
from tests.support.redis_server import RedisServer
from tests.support.slow_batch import kill_mid_batch
from tests.support.terminal_session import cli_env, drain, hang_up_at_stall, spawn_on_terminal

STALL_AT = 3  # chunks 0-2 (300 keys) are written when the batch stalls before chunk 3
WAIT = 60.0


@pytest.fixture
async def db(fixture_db: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(fixture_db, decode_responses=True)
    yield client
    await client.aclose()


async def until_stalled(client: aioredis.Redis) -> None:
    for _ in range(int(WAIT / 0.05)):
        if await client.exists("test:stalled"):
            return
        await asyncio.sleep(0.05)
    pytest.fail("the batch never reached its stall")


async def start_stalled(url: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.slow_cli", str(STALL_AT), *args, "--redis-url", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=cli_env(),
    )  # fmt: skip


async def read_until(stream: asyncio.StreamReader | None, fragment: str) -> str:
    """stderr up to the line holding `fragment` (or to its end, if it never comes)."""
    assert stream is not None
    seen = ""
    while fragment not in seen:
        line = await asyncio.wait_for(stream.readline(), WAIT)
        if not line:
            break
        seen += line.decode()
    return seen


async def signalled_run(
    db: aioredis.Redis, url: str, signum: signal.Signals, *args: str
) -> tuple[int, str, str]:
    """Runs a batch that stalls half-way, sends it `signum`, lets it go once it says it is
    stopping; returns its exit code, stdout and stderr."""
    child = await start_stalled(url, *args)
    try:
        await until_stalled(db)
        child.send_signal(signum)
        noticed = await read_until(child.stderr, "stopping")
        await db.set("test:release", "1")
        out, err = await asyncio.wait_for(child.communicate(), WAIT)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        await db.delete("test:stalled", "test:release")
    assert child.returncode is not None
    return child.returncode, out.decode(), noticed + err.decode()


async def last_op(db: aioredis.Redis, op_type: OpType) -> OperationRecord:
    records = [r for r in await OperationStore(db).recent(10) if r.type is op_type]
    return records[0]


async def audit_events(db: aioredis.Redis, op_id: str) -> list[tuple[str, str]]:
    return [
        (entry.event, entry.key_id)
        async for entry in AuditLog(db).entries(AuditFilter(op_id=op_id))
    ]


async def holds_nothing(db: aioredis.Redis, op_id: str) -> bool:
    owners = set((await db.hgetall(names.KEY_LOCKS)).values())
    return op_id not in owners and not await db.exists(names.lease(op_id))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGHUP], ids=["ctrl-c", "sighup"])
async def test_a_signal_mid_atomic_batch_rolls_it_back_before_the_process_exits(
    db: aioredis.Redis, fixture_db: str, signum: signal.Signals
) -> None:
    before = await crs_state(db)
    code, out, err = await signalled_run(
        db, fixture_db, signum, "tags", "add", "halfway", "--where", "tag:bulk", "--yes"
    )
    record = await last_op(db, OpType.TAGS)
    assert code == 128 + signum, err
    assert "Traceback" not in err
    # Chunks 0-3 landed (the stalled one is written once released), then all were undone.
    assert record.status is OpStatus.CANCELLED and record.counts.rolled_back == 400, record
    assert await crs_state(db) == before
    assert await crs_index_problems(db) == []
    events = await audit_events(db, record.id)
    assert sum(event == "applied" for event, _ in events) == 400
    assert sum(event == "rolled-back" for event, _ in events) == 400
    assert events[-1][0] == "op-end"
    assert await holds_nothing(db, record.id)
    # The last word says what happened to what, and that nothing is left to do.
    assert f"operation {record.id}" in err and "rolled back" in err
    assert "400" in err and "as it was before" in err, err
    assert f"operation {record.id}: cancelled" in out


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["sigterm", "sighup"])
async def test_a_signal_mid_best_effort_disable_stops_at_a_chunk_boundary(
    db: aioredis.Redis, fixture_db: str, signum: signal.Signals
) -> None:
    bulk = await db.smembers("apikey:tag:bulk")
    code, out, err = await signalled_run(
        db, fixture_db, signum, "status", "disable", "--where", "tag:bulk", "--yes"
    )
    record = await last_op(db, OpType.STATUS)
    assert code == 128 + signum, err
    assert record.status is OpStatus.CANCELLED and record.counts.applied == 400, record
    assert record.counts.planned > 400
    disabled = [k for k in bulk if await db.hget(f"apikey:{k}", "isActive") == "false"]
    assert len(disabled) == 400
    assert await crs_index_problems(db) == []
    assert await holds_nothing(db, record.id)
    said = out + err
    assert f"400 of {record.counts.planned}" in said, said
    assert f"keyops ops revert {record.id}" in said


async def test_a_third_ctrl_c_stops_at_once_leaving_the_op_open_and_locked_for_recovery(
    db: aioredis.Redis, fixture_db: str
) -> None:
    before = await crs_state(db)
    child = await start_stalled(fixture_db, "tags", "add", "forced", "--where", "tag:bulk", "--yes")
    try:
        await until_stalled(db)
        said = ""
        for expected in ("stopping", "once more stops at once", "stopping at once"):
            child.send_signal(signal.SIGINT)
            said += await read_until(child.stderr, expected)
        await db.set("test:release", "1")
        _, err = await asyncio.wait_for(child.communicate(), WAIT)
        said += err.decode()
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        await db.delete("test:stalled", "test:release")
    assert child.returncode == 130, said
    (left,) = await OperationStore(db).unfinished()
    assert f"'keyops ops recover {left.id} --rollback'" in said
    assert "still open" in said and "locked" in said
    written = await db.hlen(names.op_journal(left.id))
    assert written >= 300 and f"{written} of 1000 keys written" in said, said

    other = keyops(
        "tags", "add", "other", "--where", "tag:bulk", "--yes", "--redis-url", fixture_db
    )
    assert other.returncode == 3 and left.id in other.stdout, other.stdout
    recovered = keyops("ops", "recover", left.id, "--rollback", "--yes", "--redis-url", fixture_db)
    assert recovered.returncode == 0, recovered.stderr
    assert await crs_state(db) == before


async def test_breaking_a_stuck_batchs_lock_leaves_it_interrupted_with_its_keys_kept(
    db: aioredis.Redis, fixture_db: str
) -> None:
    before = await crs_state(db)
    child = await start_stalled(fixture_db, "tags", "add", "stuck", "--where", "tag:bulk", "--yes")
    try:
        await until_stalled(db)
        stuck = await last_op(db, OpType.TAGS)
        broke = keyops("ops", "break-lock", stuck.id, "--yes", "--redis-url", fixture_db)
        assert broke.returncode == 0, broke.stderr
        assert f"operation {stuck.id} is now interrupted" in broke.stdout
        assert f"'keyops ops recover {stuck.id} --rollback'" in broke.stdout
        await db.set("test:release", "1")
        await asyncio.wait_for(child.communicate(), WAIT)  # its fence stops it: no lease
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        await db.delete("test:stalled", "test:release")
    other = keyops(
        "tags", "add", "other", "--where", "tag:bulk", "--yes", "--redis-url", fixture_db
    )
    assert other.returncode == 3 and stuck.id in other.stdout
    recovered = keyops("ops", "recover", stuck.id, "--rollback", "--yes", "--redis-url", fixture_db)
    assert recovered.returncode == 0, recovered.stderr
    assert await crs_state(db) == before


async def test_a_dropped_ssh_link_still_rolls_the_batch_back_though_the_terminal_is_gone(
    db: aioredis.Redis, fixture_db: str
) -> None:
    before = await crs_state(db)
    child, master = spawn_on_terminal(
        "tests.support.slow_cli", str(STALL_AT), "tags", "add", "hungup",
        "--where", "tag:bulk", "--yes", "--redis-url", fixture_db,
    )  # fmt: skip
    code = await hang_up_at_stall(db, child, master, WAIT)
    record = await last_op(db, OpType.TAGS)
    assert code == 128 + signal.SIGHUP
    assert record.status is OpStatus.CANCELLED and record.counts.rolled_back >= 300, record
    assert await crs_state(db) == before
    assert await holds_nothing(db, record.id)
    log = log_path().read_text(encoding="utf-8")
    mine = [line for line in log.splitlines() if record.id in line]
    assert any("SIGHUP" in line for line in mine), mine
    assert any(f"op {record.id} cancelled" in line for line in mine), mine


async def test_ctrl_c_at_the_confirm_prompt_exits_at_once_with_nothing_written(
    db: aioredis.Redis, fixture_db: str
) -> None:
    before = await crs_state(db)
    child, master = spawn_on_terminal(
        "keyops", "tags", "add", "never", "--where", "tag:team-a", "--redis-url", fixture_db
    )
    try:
        shown = b""
        deadline = time.monotonic() + WAIT
        while b"[y/N]" not in shown and time.monotonic() < deadline:
            shown += drain(master, 0.2)
        assert b"[y/N]" in shown, shown
        os.write(master, b"\x03")  # Ctrl+C typed at the prompt: the terminal sends SIGINT
        deadline = time.monotonic() + 20
        while child.poll() is None and time.monotonic() < deadline:
            shown += drain(master, 0.2)
        shown += drain(master)
    finally:
        os.close(master)
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130, shown
    assert b"nothing was written" in shown, shown
    assert await crs_state(db) == before


async def test_keys_of_an_interrupted_operation_stay_protected_until_it_is_recovered(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    await kill_mid_batch(crs, redis_server.url, "tag:bulk", "killed")
    (interrupted,) = await OperationStore(crs).unfinished()
    url = redis_server.url

    second = keyops("tags", "add", "second", "--where", "tag:bulk", "--yes", "--redis-url", url)
    assert second.returncode == 3, second.stderr
    assert interrupted.id in second.stdout and "interrupted" in second.stdout
    assert f"keyops ops recover {interrupted.id} --rollback" in second.stdout
    assert not await crs.exists("apikey:tag:second")
    assert await crs.scard("apikey:tag:killed") == 300  # untouched, so its rollback can work

    recovered = keyops("ops", "recover", interrupted.id, "--rollback", "--yes", "--redis-url", url)
    assert recovered.returncode == 0, recovered.stderr
    assert not await crs.exists("apikey:tag:killed")
    assert (await OperationStore(crs).get(interrupted.id)).status is OpStatus.ROLLED_BACK  # type: ignore[union-attr]

    again = keyops("tags", "add", "second", "--where", "tag:bulk", "--yes", "--redis-url", url)
    assert again.returncode == 0, again.stderr
    assert await crs.scard("apikey:tag:second") == 1000
    assert await crs_index_problems(crs) == []
