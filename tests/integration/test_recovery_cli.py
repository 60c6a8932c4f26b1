"""`keyops ops recover` as an operator runs it after a crash: every interrupted operation ends
closed and audited, whatever recovery finds, and the counts shown are what its journal holds."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis.asyncio as aioredis

from keyops.core.batch import names
from keyops.core.batch.identity import OperatorIdentity
from keyops.core.batch.locks import KeyLock
from keyops.core.batch.operations import OpCounts, OperationRecord, OperationStore
from keyops.core.edits.registry import OpType
from tests.engine.conftest import crs_state
from tests.integration.test_cli import keyops
from tests.support.crs_actions import crs_soft_deletes
from tests.support.invariants import crs_index_problems
from tests.support.redis_server import RedisServer
from tests.support.slow_batch import kill_mid_batch

TAG_ADD = {"action": "add", "tags": ["x"], "conflict": "merge", "atomic": True, "remove": []}


def recover(url: str, *args: str) -> Any:
    return keyops("ops", "recover", *args, "--redis-url", url)


async def record_of(client: aioredis.Redis, op_id: str) -> OperationRecord:
    record = await OperationStore(client).get(op_id)
    assert record is not None
    return record


async def op_events(client: aioredis.Redis, op_id: str) -> dict[str, dict[str, Any]]:
    """The op-level audit entries of one operation: event -> detail (the last of each)."""
    found = {}
    for _, fields in await client.xrange(names.AUDIT_STREAM):
        if fields.get("op") == op_id and "keys" not in fields:
            found[fields["event"]] = json.loads(fields.get("detail") or "{}")
    return found


async def interrupted_op(client: aioredis.Redis, op_id: str, targets: list[str]) -> None:
    """An op recorded as running with no lease: its process died before writing a key."""
    record = OperationRecord(
        id=op_id, type=OpType.TAGS, summary="tags add (merge): x", params=TAG_ADD,
        operator=OperatorIdentity(os_user="bob", host="ops1", pid=7), counts=OpCounts(planned=7),
    )  # fmt: skip
    await OperationStore(client).save(record)
    if targets:
        await client.sadd(names.op_targets(op_id), *targets)


@pytest.mark.parametrize("action", ["rollback", "resume"])
async def test_an_operation_that_died_before_writing_is_closed_by_either_recovery(
    crs: aioredis.Redis, redis_server: RedisServer, action: str
) -> None:
    url = redis_server.url
    op_id = "20261127-030000-0dead0"
    await interrupted_op(crs, op_id, [])  # died before it claimed a key
    before = await crs_state(crs)
    listed = recover(url)
    assert (
        f"{op_id}  tags add (merge): x" in listed.stdout and "0 of 7 keys written" in listed.stdout
    )

    result = recover(url, op_id, f"--{action}", "--yes")
    assert result.returncode == 0, result.stderr
    assert f"{op_id} is closed" in result.stdout
    closed = await record_of(crs, op_id)
    assert closed.status.value == "rolled_back" and "before it wrote anything" in closed.message
    rollback_id = result.stdout.split()[1].rstrip(":")
    assert (await op_events(crs, op_id))["op-end"]["closed_by"] == rollback_id
    assert {"op-start", "op-end"} <= set(await op_events(crs, rollback_id))
    assert recover(url).stdout.strip() == "no interrupted operations"
    assert await crs_state(crs) == before


async def test_a_rollback_that_finds_every_key_changed_since_closes_the_op_and_names_them(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    url = redis_server.url
    await kill_mid_batch(crs, url, "status:active", "--disable")  # 300 keys disabled
    (op_id,) = [r.id for r in await OperationStore(crs).unfinished()]
    written = sorted(await crs.hkeys(names.op_journal(op_id)))
    assert len(written) == 300
    for key_id in written:  # meanwhile an admin deleted every one of them in CRS
        await crs_soft_deletes(crs, key_id)
    before = await crs_state(crs)

    result = recover(url, op_id, "--rollback", "--yes", "--json")
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert sorted(key["id"] for key in outcome["not_rolled_back"]) == written
    assert all("soft-deleted" in key["reason"] for key in outcome["not_rolled_back"])
    assert f"keyops audit list --op {op_id} --key" in outcome["not_rolled_back"][0]["advice"]
    closed = await record_of(crs, op_id)
    assert closed.status.value == "partial" and "300 keys changed since" in closed.message
    end = (await op_events(crs, op_id))["op-end"]
    assert end["closed_by"] == outcome["op_id"] and end["left"] == 300
    assert recover(url).stdout.strip() == "no interrupted operations"
    assert await crs_state(crs) == before  # every key left as CRS made it
    assert await crs_index_problems(crs) == []
    # The command the outcome gives shows what keyops wrote to the key.
    shown = keyops("audit", "list", "--op", op_id, "--key", written[0], "--redis-url", url)
    assert written[0] in shown.stdout and "isActive: 'true' -> 'false'" in shown.stdout


@pytest.mark.parametrize("recovered", ["the rollback, resumed", "the original, rolled back"])
async def test_an_interrupted_rollback_is_finished_never_undone_and_both_close(
    crs: aioredis.Redis, redis_server: RedisServer, recovered: str
) -> None:
    url = redis_server.url
    before = await crs_state(crs)
    await kill_mid_batch(crs, url, "tag:bulk", "killed")  # 300 keys tagged
    (original,) = [r.id for r in await OperationStore(crs).unfinished()]
    await kill_mid_batch(crs, url, "--recover", original, "rollback", "1")  # 100 restored
    assert await crs.scard("apikey:tag:killed") == 200
    (rollback,) = [r.id for r in await OperationStore(crs).unfinished() if r.id != original]

    listed = recover(url).stdout
    assert f"'keyops ops recover {rollback} --resume' finishes it" in listed, listed
    assert f"its rollback {rollback} was interrupted too" in listed
    refused = recover(url, original, "--resume", "--yes")
    assert refused.returncode == 2 and rollback in refused.stderr
    preview = json.loads(recover(url, rollback, "--rollback", "--dry-run", "--json").stdout)
    assert preview["change"] == 200
    assert not any("killed" in key["changes"]["tags"][1] for key in preview["keys"])

    target, action = (
        (rollback, "--resume") if recovered == "the rollback, resumed" else (original, "--rollback")
    )
    result = recover(url, target, action, "--yes")
    assert result.returncode == 0, result.stderr
    assert f"{original} is closed, rolled back" in result.stdout
    assert await crs_state(crs) == before
    assert (await record_of(crs, original)).status.value == "rolled_back"
    finished = await record_of(crs, rollback)
    assert finished.status.value == "done" and finished.counts.applied == 300
    assert {"op-start", "op-resume", "op-end"} <= set(await op_events(crs, rollback))
    assert (await op_events(crs, original))["op-end"]["closed_by"] == rollback
    assert recover(url).stdout.strip() == "no interrupted operations"
    assert await crs_index_problems(crs) == []


async def test_counts_are_what_the_journal_holds_before_and_after_a_resume(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    url = redis_server.url
    await kill_mid_batch(crs, url, "tag:bulk", "resumed")
    (op_id,) = [r.id for r in await OperationStore(crs).unfinished()]
    store = OperationStore(crs)
    remaining = sorted(await store.targets(op_id) - set(await crs.hkeys(names.op_journal(op_id))))
    for key_id in remaining[:5]:  # deleted in CRS before the resume: skipped by it
        await crs_soft_deletes(crs, key_id)

    assert "(300 of 1000 keys written)" in recover(url).stdout
    listed = json.loads(keyops("ops", "list", "--json", "--redis-url", url).stdout)
    assert next(op for op in listed if op["id"] == op_id)["counts"]["applied"] == 300
    shown = json.loads(keyops("ops", "show", op_id, "--json", "--redis-url", url).stdout)
    assert shown["op"]["counts"]["applied"] == len(shown["keys"]) == 300
    skipped_first = shown["op"]["counts"]["skipped"]

    result = recover(url, op_id, "--resume", "--yes", "--json")
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout)["counts"]
    assert counts["planned"] == counts["applied"] == 995
    assert counts["skipped"] == skipped_first + 5
    assert await crs.hlen(names.op_journal(op_id)) == 995
    text = keyops("ops", "show", op_id, "--redis-url", url).stdout
    assert "planned 995, applied 995, already 0, failed 0" in text


async def test_a_resume_refused_by_a_lock_leaves_the_operation_open(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    url = redis_server.url
    team_a = sorted(await crs.smembers("apikey:tag:team-a"))
    op_id = "20261127-030000-0dead1"
    await interrupted_op(crs, op_id, team_a)  # it claimed its 7 keys, then died
    store = OperationStore(crs)
    holder = KeyLock(crs, "20261127-031000-a1ive0", ttl_ms=60_000)
    await holder.acquire(team_a[:1], store)  # another operator's live batch holds one

    refused = recover(url, op_id, "--resume", "--yes")
    assert refused.returncode == 3, refused.stderr
    assert op_id in recover(url).stdout  # still interrupted, still offered
    assert (await record_of(crs, op_id)).status.value == "running"

    await holder.release()
    finished = recover(url, op_id, "--resume", "--yes", "--json")
    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout)["counts"]["applied"] == 7
    assert (await record_of(crs, op_id)).status.value == "done"
    assert await crs.scard("apikey:tag:x") == 7
