"""Tag rename and delete across every key, on the CRS fixture and real redis-server: keyops's
writes compared key by key with a transliteration of CRS's renameTag / removeTagFromAllKeys,
the index invariants after, a rollback byte for byte, a revert."""

from __future__ import annotations

import json
from datetime import datetime

import redis.asyncio as aioredis

from keyops.core.batch.operations import OpStatus
from keyops.core.edits.tag_routes import TagDelete, TagRename
from tests.engine.conftest import crs_state, ids_where, make_service, run
from tests.engine.test_field_edits import (
    _without_updated_at,
    assert_revert_restores,
    assert_rollback_is_exact,
)
from tests.support.crs_reference import crs_tag_route
from tests.support.invariants import crs_index_problems


async def _tag(crs: aioredis.Redis, key_id: str, tags: list[str], deleted: bool = False) -> None:
    """Give a key these tags as CRS would have stored and indexed them."""
    old = json.loads(await crs.hget(f"apikey:{key_id}", "tags") or "[]")
    for tag in old:
        await crs.srem(f"apikey:tag:{tag}", key_id)
    await crs.hset(
        f"apikey:{key_id}", "tags", json.dumps(tags, ensure_ascii=False, separators=(",", ":"))
    )
    for tag in tags:
        await crs.sadd(f"apikey:tag:{tag}", key_id)
        await crs.sadd("apikey:tags:all", tag)
    if deleted:
        await crs.hset(f"apikey:{key_id}", mapping={"isDeleted": "true", "isActive": "false"})
        await crs.srem("apikey:set:active", key_id)
        await crs.sadd("apikey:set:deleted", key_id)


async def test_tag_rename_merges_and_trims_as_crs_does(crs: aioredis.Redis) -> None:
    service = make_service(crs)
    loop = await ids_where(service, "tag:loop20")
    await _tag(crs, loop[0], ["loop20", " team-a ", "x"])  # untrimmed: matches after trim()
    await _tag(crs, loop[1], ["team-b", "team-a", "team-a "])  # merges into team-b
    await _tag(crs, loop[2], ["team-a", "loop20"], deleted=True)  # CRS leaves deleted keys be
    await service.load(refresh=True)
    before = await crs_state(crs)
    plan = await service.plan(await service.targets("", None), TagRename.build("team-a", "team-b"))
    assert loop[2] not in {p.key_id for p in plan.plans}
    outcome, _ = await run(service, plan)
    assert outcome.status is OpStatus.DONE, outcome.message
    after = await crs_state(crs)
    expected = dict(before)
    written = crs_tag_route(expected, "team-a", "team-b", datetime.now())
    assert sorted(written) == sorted(p.key_id for p in plan.plans)
    assert json.loads(after[f"apikey:{loop[1]}"][1]["tags"]) == ["team-b"]
    assert json.loads(after[f"apikey:{loop[0]}"][1]["tags"]) == ["loop20", "team-b", "x"]
    # CRS takes team-a off tags:all although the deleted key still carries it (and its set
    # still lists it); keyops keeps it there until no key does.
    kind, members = expected["apikey:tags:all"]
    expected["apikey:tags:all"] = (kind, sorted({*members, "team-a"}))
    assert _without_updated_at(after, set(written)) == _without_updated_at(expected, set(written))
    assert await crs_index_problems(crs) == []


async def test_tag_delete_matches_crs_rolls_back_exactly_and_reverts(crs: aioredis.Redis) -> None:
    service = make_service(crs)
    everywhere = await service.targets("", None)
    before = await crs_state(crs)
    plan = await service.plan(everywhere, TagDelete.build(" bulk-p1 "))
    assert len(plan.plans) == 500
    outcome, _ = await run(service, plan)
    assert outcome.status is OpStatus.DONE, outcome.message
    expected = dict(before)
    written = crs_tag_route(expected, "bulk-p1", None, datetime.now())
    after = await crs_state(crs)
    assert "apikey:tag:bulk-p1" not in after
    assert _without_updated_at(after, set(written)) == _without_updated_at(expected, set(written))
    assert await crs_index_problems(crs) == []
    revert, _ = await run(service, await service.plan_revert(outcome.op_id))
    assert revert.status is OpStatus.DONE and revert.counts.applied == 500
    assert _without_updated_at(await crs_state(crs), set(written)) == _without_updated_at(
        before, set(written)
    )
    bulk = await ids_where(service, "tag:bulk-p2")
    await assert_rollback_is_exact(crs, bulk, TagDelete.build("bulk-p2"))
    await assert_revert_restores(crs, service, bulk, TagRename.build("bulk-p2", "bulk"))
