"""Decisions made on reads that went stale before the write, on real redis-server.

A batch decides each key on what it read (planning) and writes later. Whatever CRS does to a
key in between, the write must not land on a decision the key no longer supports, and the
index sets must end up as the record says (the independent checker judges them).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis.asyncio as aioredis

from keyops.core.api import AccountAssign, BatchPlan, StatusChange, TagEdit
from keyops.core.batch import rollback
from keyops.core.batch.operations import OpStatus
from keyops.core.batch.planning import plan_undo
from keyops.core.schema.writes import KeyChange, plan_key_write
from keyops.core.store.apply import ApplyStatus, KeyWriter
from tests.engine.conftest import crs_state, ids_where, make_service, run
from tests.support.invariants import crs_index_problems

CONSOLE_LOOP_SHARED = "503bbeac-cef8-4d9a-949e-9e7f3ec83ccb"  # a Claude Console account


class InjectedFault(Exception):
    pass


async def crs_soft_delete(client: aioredis.Redis, key_id: str) -> None:
    """CRS's deleteApiKey: HGETALL, HSET of the whole hash with the deletion fields and
    isActive 'false', EXPIRE, the hash_map entry dropped, then its index update."""
    name = f"apikey:{key_id}"
    fields = await client.hgetall(name)
    fields.update(
        isDeleted="true",
        deletedAt="2026-11-27T05:00:00.000Z",
        deletedBy="admin",
        deletedByType="admin",
        isActive="false",
    )
    await client.hset(name, mapping=fields)
    await client.expire(name, 31_536_000)
    await client.hdel("apikey:hash_map", fields.get("apiKey", ""))
    await client.sadd("apikey:set:deleted", key_id)
    await client.srem("apikey:set:active", key_id)


async def deleted_keys_active(client: aioredis.Redis, ids: list[str]) -> list[str]:
    """Soft-deleted keys that CRS's auth would let through (it checks isActive, never
    isDeleted), or that sit in set:active."""
    active = await client.smembers("apikey:set:active")
    return [
        key_id
        for key_id in ids
        if await client.hget(f"apikey:{key_id}", "isActive") == "true" or key_id in active
    ]


async def test_an_enable_planned_on_live_keys_skips_those_crs_soft_deleted_before_the_write(
    crs: aioredis.Redis,
) -> None:
    service = make_service(crs, chunk_size=100)
    targets = await ids_where(service, "tag:bulk-p1")
    outcome, _ = await run(service, await service.plan(targets, StatusChange.build(False)))
    assert outcome.status is OpStatus.DONE

    await service.load(refresh=True)
    plan = await service.plan(targets, StatusChange.build(True))
    assert len(plan.plans) == len(targets)
    deleted = targets[::10]
    for key_id in deleted:  # an admin deletes keys while the operator reads the preview
        await crs_soft_delete(crs, key_id)
    outcome, _ = await run(service, plan)

    assert await deleted_keys_active(crs, deleted) == []
    assert set(deleted) <= await crs.smembers("apikey:set:deleted")
    assert outcome.status is OpStatus.DONE
    assert outcome.counts.applied == len(targets) - len(deleted)
    assert outcome.counts.skipped == len(deleted)
    for key_id in deleted:  # each one reported with why it was left alone
        assert any(key_id in w and "soft-deleted" in w for w in outcome.warnings), key_id
    live = [k for k in targets if k not in set(deleted)]
    assert set(live) <= await crs.smembers("apikey:set:active")
    assert await crs_index_problems(crs) == []


async def test_a_tag_edit_planned_from_the_loaded_list_skips_keys_soft_deleted_since(
    crs: aioredis.Redis,
) -> None:
    """The list said the keys were live; the guard on isDeleted goes with the plan made from
    it, so a key deleted since is decided again on what Redis holds (skipped), not tagged."""
    service = make_service(crs, chunk_size=100)
    targets = await ids_where(service, "tag:bulk-p2")
    plan = await service.plan(targets, TagEdit.build("add", ["incident-7"]))
    deleted = targets[5::25]
    for key_id in deleted:
        await crs_soft_delete(crs, key_id)
    outcome, _ = await run(service, plan)

    assert not set(deleted) & await crs.smembers("apikey:tag:incident-7")
    for key_id in deleted:
        assert "incident-7" not in json.loads(await crs.hget(f"apikey:{key_id}", "tags"))
    assert outcome.status is OpStatus.DONE and outcome.counts.skipped == len(deleted)
    assert await crs_index_problems(crs) == []


async def test_a_binding_never_lands_once_the_partner_claude_field_was_set_meanwhile(
    crs: aioredis.Redis,
) -> None:
    """Binding claudeAccountId was decided while claudeConsoleAccountId was empty; CRS binding
    the console field in between must not leave the key with both set."""
    service = make_service(crs, chunk_size=100)
    targets = await ids_where(service, "tag:bulk-p2")
    plan = await service.plan(targets, AccountAssign.build(["claude=group:grp-claude-loop"]))
    assert len(plan.plans) == len(targets)
    rebound = targets[::20]
    for key_id in rebound:  # an admin binds them in CRS's UI (updateApiKey)
        await crs.hset(
            f"apikey:{key_id}",
            mapping={
                "claudeConsoleAccountId": CONSOLE_LOOP_SHARED,
                "updatedAt": "2026-11-27T05:00:00.000Z",
            },
        )
    outcome, _ = await run(service, plan)

    for key_id in targets:
        claude, console = await crs.hmget(
            f"apikey:{key_id}", ["claudeAccountId", "claudeConsoleAccountId"]
        )
        assert not (claude and console), key_id
    assert outcome.status is OpStatus.DONE and outcome.counts.skipped == len(rebound)
    for key_id in rebound:
        assert any(key_id in w and "bound to" in w for w in outcome.warnings), key_id
    assert await crs_index_problems(crs) == []


async def test_a_rollback_takes_every_key_out_of_the_tag_set_after_crs_put_old_tags_back(
    crs: aioredis.Redis,
) -> None:
    """CRS saves the whole hash on every request: a request that read a key before keyops
    added the tag writes the old tags back after, without touching the tag sets. When the
    atomic batch then fails and rolls back, those keys already hold their old values, and
    the rollback must still take them out of the set it added them to."""
    before = await crs_state(crs)
    stale: dict[str, dict[str, str]] = {}
    service = make_service(crs, chunk_size=100)
    targets = await ids_where(service, "tag:bulk")
    plan = await service.plan(targets, TagEdit.build("add", ["incident-8"]))
    first_chunk = [p.key_id for p in plan.plans[:100]]

    async def crs_requests_then_failure(index: int) -> None:
        if index == 0:  # requests read these keys before keyops writes them...
            for key_id in first_chunk:
                stale[key_id] = await crs.hgetall(f"apikey:{key_id}")
        if index == 3:  # ...and save them whole after (chunks 1 and 2 are written by now)
            for key_id, fields in stale.items():
                await crs.hset(f"apikey:{key_id}", mapping=fields)
            raise InjectedFault("disk on fire")

    service.config.runner.before_chunk = crs_requests_then_failure
    outcome, _ = await run(service, plan)

    assert outcome.status is OpStatus.ROLLED_BACK and not outcome.not_rolled_back
    assert outcome.counts.rolled_back == 300
    assert await crs.smembers("apikey:tag:incident-8") == set()
    assert "incident-8" not in await crs.smembers("apikey:tags:all")
    assert await crs_index_problems(crs) == []
    assert await crs_state(crs) == before


async def test_a_write_that_finds_its_values_already_there_still_runs_its_index_updates(
    crs: aioredis.Redis,
) -> None:
    """The script level: undoing a tag add on a key whose old tags CRS already wrote back
    answers `already`, writes nothing, and takes the key out of the tag's set."""
    service = make_service(crs)
    (key_id,) = (await ids_where(service, "tag:loop20"))[:1]
    name = f"apikey:{key_id}"
    old = await crs.hgetall(name)
    writer = KeyWriter(crs)
    added = plan_key_write(
        key_id, old, KeyChange(tags=[*json.loads(old["tags"]), "x"]), now="t1", index_ready=True
    )
    assert [r.status for r in await writer.apply([added])] == [ApplyStatus.APPLIED]
    undo = plan_key_write(
        key_id, await crs.hgetall(name), KeyChange(tags=json.loads(old["tags"])), now="t2",
        index_ready=True,
    )  # fmt: skip
    await crs.hset(name, mapping=old)  # CRS's stale whole-hash save
    assert [r.status for r in await writer.apply([undo])] == [ApplyStatus.ALREADY]
    # Nothing written: the tags CRS put back, and no stamp of the undo.
    assert await crs.hmget(name, ["tags", "updatedAt"]) == [old["tags"], "t1"]
    assert not await crs.sismember("apikey:tag:x", key_id)
    assert "x" not in await crs.smembers("apikey:tags:all")
    assert await crs_index_problems(crs) == []


async def test_a_rollback_decides_again_for_keys_crs_wrote_between_its_read_and_its_write(
    crs: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rollback's own writes are guarded like any other: a key soft-deleted after the
    rollback read it conflicts, is read again and restored, not left holding the change."""
    service = make_service(crs, chunk_size=100)
    targets = await ids_where(service, "tag:bulk")
    plan = await service.plan(targets, TagEdit.build("add", ["incident-9"]))
    deleted = [p.key_id for p in plan.plans[:100:10]]

    async def failure(index: int) -> None:
        if index == 2:
            raise InjectedFault("disk on fire")

    async def plan_undo_then_crs_deletes(*args: Any, **kwargs: Any) -> BatchPlan:
        restore = await plan_undo(*args, **kwargs)
        for key_id in deleted:
            await crs_soft_delete(crs, key_id)
        return restore

    monkeypatch.setattr(rollback, "plan_undo", plan_undo_then_crs_deletes)
    service.config.runner.before_chunk = failure
    outcome, _ = await run(service, plan)

    assert outcome.status is OpStatus.ROLLED_BACK and not outcome.not_rolled_back
    assert outcome.counts.rolled_back == 200
    assert await crs.smembers("apikey:tag:incident-9") == set()
    for key_id in deleted:
        assert "incident-9" not in json.loads(await crs.hget(f"apikey:{key_id}", "tags"))
    assert await crs_index_problems(crs) == []
