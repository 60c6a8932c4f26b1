"""Soft delete and restore on the CRS fixture, on real redis-server: keyops's writes compared
key by key with a transliteration of CRS's deleteApiKey / restoreApiKey, the index invariants
after, a rollback byte for byte (old isActive, hash_map entry, legacy copy and cost-rank scores
included), a revert, and CRS's request-time validation before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import redis.asyncio as aioredis

from keyops.core.api import KeyopsSession
from keyops.core.batch.operations import OpStatus
from keyops.core.edits.lifecycle import KeysDelete, KeysRestore
from tests.engine.conftest import crs_state, ids_where, make_service, run
from tests.engine.test_field_edits import assert_rollback_is_exact
from tests.support.crs_auth import crs_accepts, give_known_secret
from tests.support.crs_reference import crs_delete, crs_restore
from tests.support.invariants import crs_index_problems

RAW = "cr_" + "0123456789abcdef" * 4


def _stamp(record: dict[str, str], field: str) -> datetime:
    return datetime.fromisoformat(record[field].replace("Z", "+00:00"))


async def _odd_targets(crs: aioredis.Redis, service: KeyopsSession) -> list[str]:
    """loop20 keys, one with a known secret, one ranked above 0, one disabled, one with a
    legacy `apikey_hash:{hash}` copy (what CRS's restore leaves behind)."""
    targets = await ids_where(service, "tag:loop20")
    await give_known_secret(crs, targets[0], RAW)
    for period in ("today", "7days", "30days", "all"):
        await crs.zadd(f"cost_rank:{period}", {targets[1]: 12.345})
    await crs.hset(f"apikey:{targets[2]}", "isActive", "false")
    await crs.srem("apikey:set:active", targets[2])
    digest = await crs.hget(f"apikey:{targets[3]}", "apiKey")
    await crs.hset(
        f"apikey_hash:{digest}", mapping={"id": targets[3], "name": "n", "isActive": "true"}
    )
    await service.load(refresh=True)
    return targets


async def _delete(crs: aioredis.Redis, service: KeyopsSession, targets: list[str]) -> Any:
    outcome, _ = await run(service, await service.plan(targets, KeysDelete()))
    assert outcome.status is OpStatus.DONE, outcome.message
    return outcome


async def test_delete_writes_what_crs_delete_writes_and_the_key_stops_working(
    crs: aioredis.Redis,
) -> None:
    service = make_service(crs)
    targets = await _odd_targets(crs, service)
    assert await crs_accepts(crs, RAW) == (200, targets[0])
    before = await crs_state(crs)
    plan = await service.plan(targets, KeysDelete())
    assert len(plan.plans) == len(targets)
    changes = {(f, b, a): n for f, b, a, n in plan.field_changes()}
    assert changes[("isActive", "true", "false")] == len(targets) - 1
    outcome = await _delete(crs, service, targets)
    assert outcome.counts.applied == len(targets)
    after = await crs_state(crs)
    deleted_at = _stamp(after[f"apikey:{targets[0]}"][1], "deletedAt")
    expected = dict(before)
    for key_id in targets:
        crs_delete(expected, key_id, deleted_at, "keyops", "admin")
    assert after == expected
    assert await crs_index_problems(crs) == []
    assert await crs_accepts(crs, RAW) == (401, "API key not found")
    # Deleting again changes nothing (CRS's would restamp deletedAt).
    again = await service.plan(targets, KeysDelete())
    assert not again.plans and {reason for _, reason in again.skipped} == {"already soft-deleted"}


async def test_delete_rolls_back_byte_for_byte_and_reverts(crs: aioredis.Redis) -> None:
    service = make_service(crs)
    targets = await _odd_targets(crs, service)
    await assert_rollback_is_exact(crs, targets, KeysDelete())
    assert await crs_accepts(crs, RAW) == (200, targets[0])
    before = await crs_state(crs)
    outcome = await _delete(crs, service, targets)
    revert, _ = await run(service, await service.plan_revert(outcome.op_id))
    assert revert.status is OpStatus.DONE and revert.counts.applied == len(targets)
    after = await crs_state(crs)
    # A revert is a new change: updatedAt is stamped, as CRS's edits do; all else as before,
    # the disabled key disabled, scores and the legacy copy back.
    for key_id in targets:
        after[f"apikey:{key_id}"][1].pop("updatedAt", None)
        before[f"apikey:{key_id}"][1].pop("updatedAt", None)
    assert after == before
    assert await crs_index_problems(crs) == []
    assert await crs_accepts(crs, RAW) == (200, targets[0])


async def test_restore_writes_what_crs_restore_writes_and_the_key_works_again(
    crs: aioredis.Redis,
) -> None:
    service = make_service(crs)
    targets = await _odd_targets(crs, service)
    await _delete(crs, service, targets[:-1])
    await service.load(refresh=True)
    before = await crs_state(crs)
    plan = await service.plan(targets, KeysRestore())
    assert plan.skipped == [(targets[-1], "not soft-deleted")]
    outcome, _ = await run(service, plan)
    assert outcome.status is OpStatus.DONE and outcome.counts.applied == len(targets) - 1
    after = await crs_state(crs)
    restored_at = _stamp(after[f"apikey:{targets[0]}"][1], "restoredAt")
    expected = dict(before)
    for key_id in targets[:-1]:
        crs_restore(expected, key_id, restored_at, "keyops", "admin")
    assert after == expected
    assert await crs_index_problems(crs) == []
    assert await crs_accepts(crs, RAW) == (200, targets[0])
    # A rollback of the restore deletes them again, exactly.
    revert, _ = await run(service, await service.plan_revert(outcome.op_id))
    assert revert.status is OpStatus.DONE
    assert await crs_accepts(crs, RAW) == (401, "API key not found")
    assert await crs_index_problems(crs) == []
