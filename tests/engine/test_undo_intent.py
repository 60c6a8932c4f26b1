"""Verify, revert and rollback judge an operation by its intent, and undo a key whole or not at
all, into a state the forward edit would allow; on real redis-server, with CRS-like actors."""

from __future__ import annotations

import json

import pytest
import redis.asyncio as aioredis

from keyops.core.api import AccountAssign, StatusChange, TagEdit
from keyops.core.batch.operations import OpStatus
from keyops.core.batch.progress import Outcome
from tests.engine.conftest import crs_state, ids_where, make_service, run
from tests.support.invariants import crs_index_problems
from tests.support.live_crs import crs_add_tag

SHARED_CONSOLE = "503bbeac-cef8-4d9a-949e-9e7f3ec83ccb"  # console-loop-shared
GROUP_CONSOLE = "a301a5bd-77ce-44ad-a240-843426543ff4"  # console-loop-group
CLAUDE_GROUP = "group:1c2c9b84-7b6c-4f92-8666-1e771bb8e95d"  # grp-claude-loop
DEDICATED_RESPONSES = "bbe431a5-29e2-4c59-8605-b4c017122acb"  # responses-loop-dedicated
CLAUDE_FIELDS = ["claudeAccountId", "claudeConsoleAccountId"]


async def tags_of(crs: aioredis.Redis, key_id: str) -> list[str]:
    return json.loads(await crs.hget(f"apikey:{key_id}", "tags") or "[]")


async def never_both_claude_bindings(crs: aioredis.Redis, key_ids: list[str]) -> None:
    for key_id in key_ids:
        claude, console = await crs.hmget(f"apikey:{key_id}", CLAUDE_FIELDS)
        assert not (claude and console), f"{key_id} is bound to both: {claude!r}, {console!r}"


async def test_a_key_whose_other_claude_field_was_changed_by_hand_is_not_half_reverted(
    crs: aioredis.Redis,
) -> None:
    service = make_service(crs)
    zeta = await ids_where(service, "name:zeta-unbound-*")
    await run(
        service, await service.plan(zeta, AccountAssign.build(["console=console-loop-shared"]))
    )
    to_claude = AccountAssign.build(["claude=group:grp-claude-loop"], overwrite_existing=True)
    outcome, _ = await run(service, await service.plan(zeta, to_claude))
    assert outcome.status is OpStatus.DONE  # claude = the group, console cleared
    hand = zeta[0]
    await crs.hset(f"apikey:{hand}", "claudeAccountId", "hand-picked-claude-account")

    plan = await service.plan_revert(outcome.op_id)
    assert plan.skipped == [(hand, "changed since: claudeAccountId")]
    reverted, _ = await run(service, plan)
    assert reverted.status is OpStatus.DONE
    # The hand-changed key is untouched, not given its console binding back beside it...
    assert await crs.hmget(f"apikey:{hand}", CLAUDE_FIELDS) == ["hand-picked-claude-account", ""]
    # ...and is reported by name with where to see who changed it.
    (left,) = reverted.left_alone
    assert (left.key_id, left.name) == (hand, await crs.hget(f"apikey:{hand}", "name"))
    assert left.reason == "changed since: claudeAccountId"
    assert f"keyops audit list --key {hand}" in left.advice
    for key_id in zeta[1:]:
        assert await crs.hmget(f"apikey:{key_id}", CLAUDE_FIELDS) == ["", SHARED_CONSOLE]
    await never_both_claude_bindings(crs, zeta)
    assert await crs_index_problems(crs) == []


async def test_a_revert_never_leaves_both_claude_fields_set(crs: aioredis.Redis) -> None:
    service = make_service(crs)
    alpha = await ids_where(service, "name:alpha-console-*")  # console-loop-dedicated
    to_pool = AccountAssign.build(["console=shared"], overwrite_existing=True)
    outcome, _ = await run(service, await service.plan(alpha, to_pool))
    assert outcome.status is OpStatus.DONE
    # Since then someone bound one key to a Claude group (CRS's UI would clear the console
    # field, which the op already did).
    await crs.hset(f"apikey:{alpha[0]}", "claudeAccountId", CLAUDE_GROUP)

    plan = await service.plan_revert(outcome.op_id)
    assert [key for key, _ in plan.skipped] == [alpha[0]]
    assert "would both be set" in plan.skipped[0][1]
    reverted, _ = await run(service, plan)
    assert await crs.hmget(f"apikey:{alpha[0]}", CLAUDE_FIELDS) == [CLAUDE_GROUP, ""]
    assert [left.key_id for left in reverted.left_alone] == [alpha[0]]
    await never_both_claude_bindings(crs, alpha)


@pytest.mark.parametrize(
    ("field", "old", "new", "break_old", "refused"),
    [
        (
            "console",
            "console-loop-shared",
            "console-loop-group",
            [("delete", f"claude_console_account:{SHARED_CONSOLE}")],
            "claude-console account 503bbeac-cef8-4d9a-949e-9e7f3ec83ccb no longer exists",
        ),
        (
            "openai",
            "responses-loop-dedicated",
            "responses-loop-group",
            [("status", f"openai_responses_account:{DEDICATED_RESPONSES}")],
            "is unhealthy (status unauthorized); CRS fails openai-responses requests",
        ),
        (
            "console",
            "console-loop-shared",
            "console-loop-group",
            [("status", f"claude_console_account:{SHARED_CONSOLE}")],
            None,  # CRS falls back to the pool on a bad console account: a warning, as forward
        ),
    ],
)
async def test_a_revert_binds_back_only_where_an_assignment_would(
    crs: aioredis.Redis,
    field: str,
    old: str,
    new: str,
    break_old: list[tuple[str, str]],
    refused: str | None,
) -> None:
    service = make_service(crs)
    zeta = await ids_where(service, "name:zeta-unbound-*")
    await run(service, await service.plan(zeta, AccountAssign.build([f"{field}={old}"])))
    moved = AccountAssign.build([f"{field}={new}"], overwrite_existing=True)
    outcome, _ = await run(service, await service.plan(zeta, moved))
    assert outcome.status is OpStatus.DONE
    for how, record in break_old:
        if how == "delete":
            await crs.delete(record)
            index = record.rsplit(":", 1)[0] + ":index"
            await crs.srem(index, record.rsplit(":", 1)[1])
        else:
            await crs.hset(record, "status", "unauthorized")
    await service.load(refresh=True)
    before = await crs_state(crs)

    plan = await service.plan_revert(outcome.op_id)
    if refused is None:
        assert len(plan.plans) == len(zeta)
        assert any("CRS falls back to the shared pool" in w for w in plan.warnings)
        return
    assert plan.plans == [] and {key for key, _ in plan.skipped} == set(zeta)
    assert all(refused in reason and "cannot undo" in reason for _, reason in plan.skipped)
    assert [left.key_id for left in plan.left_alone_keys()] == [key for key, _ in plan.skipped]
    reverted, _ = await run(service, plan)
    assert reverted.status is OpStatus.DONE and reverted.counts.applied == 0
    assert await crs_state(crs) == before  # every key keeps the binding it has


async def test_a_tag_crs_added_beside_keyops_tag_is_not_drift(crs: aioredis.Redis) -> None:
    service = make_service(crs, verify_delay=0.3)
    loop = await ids_where(service, "tag:loop20")
    fresh, stale = loop[:5], loop[5:10]
    # Requests that read these keys before keyops wrote (their UI showed the old list).
    read_early = {key: await crs.hgetall(f"apikey:{key}") for key in stale}
    plan = await service.plan(loop, TagEdit.build("add", ["keyops-tag"]))
    outcome: Outcome | None = None
    async for event in service.run(plan):
        if event.phase.value == "verifying":
            for key in fresh:  # someone adds their own tag to the list as it is now
                await crs_add_tag(crs, key, "their-tag")
            for key in stale:  # someone adds their tag to the list their page showed
                await crs_add_tag(crs, key, "their-tag", read=read_early[key])
        if event.outcome is not None:
            outcome = event.outcome
    assert outcome is not None
    assert outcome.status is OpStatus.DONE and outcome.exit_code == 0, outcome.drifting
    assert outcome.counts.drifting == 0
    # The stale write dropped keyops's tag: it is added again to what is there now.
    assert outcome.counts.reapplied == len(stale)
    for key in fresh + stale:
        tags = await tags_of(crs, key)
        assert "keyops-tag" in tags and "their-tag" in tags, (key, tags)
    assert await crs_index_problems(crs) == []


async def test_a_revert_takes_off_its_own_tag_and_keeps_one_added_since(
    crs: aioredis.Redis,
) -> None:
    service = make_service(crs)
    loop = await ids_where(service, "tag:loop20")
    original = {key: await tags_of(crs, key) for key in loop}
    outcome, _ = await run(service, await service.plan(loop, TagEdit.build("add", ["oops"])))
    theirs = loop[0]
    await crs_add_tag(crs, theirs, "their-tag")

    plan = await service.plan_revert(outcome.op_id)
    assert plan.skipped == []
    reverted, _ = await run(service, plan)
    assert reverted.status is OpStatus.DONE and reverted.counts.applied == len(loop)
    assert await tags_of(crs, theirs) == [*original[theirs], "their-tag"]
    for key in loop[1:]:
        assert await tags_of(crs, key) == original[key]
    assert not await crs.exists("apikey:tag:oops")
    assert await crs.smembers("apikey:tag:their-tag") == {theirs}
    assert await crs_index_problems(crs) == []


async def test_a_revert_of_a_removal_puts_the_tag_back_beside_tags_added_since(
    crs: aioredis.Redis,
) -> None:
    service = make_service(crs)
    alpha = await ids_where(service, "name:alpha-console-*")
    outcome, _ = await run(service, await service.plan(alpha, TagEdit.build("remove", ["team-a"])))
    await crs_add_tag(crs, alpha[0], "their-tag")
    await run(service, await service.plan_revert(outcome.op_id))
    tags = await tags_of(crs, alpha[0])
    assert "team-a" in tags and "their-tag" in tags
    assert await crs.smembers("apikey:tag:team-a") >= set(alpha)
    assert await crs_index_problems(crs) == []


async def test_a_key_whose_other_field_moved_is_left_whole_and_reported(
    crs: aioredis.Redis,
) -> None:
    service = make_service(crs)
    zeta = await ids_where(service, "name:zeta-unbound-*")
    expired = "2024-01-01T00:00:00.000Z"
    for key in zeta:  # disabled by CRS's hourly job once they expired
        await crs.hset(f"apikey:{key}", mapping={"isActive": "false", "expiresAt": expired})
        await crs.srem("apikey:set:active", key)
    await service.load(refresh=True)
    renew = StatusChange.build(True, expires="2030-01-31")
    outcome, _ = await run(service, await service.plan(zeta, renew))
    assert outcome.status is OpStatus.DONE and outcome.counts.applied == len(zeta)
    hand = zeta[1]
    await crs.hset(f"apikey:{hand}", "expiresAt", "2031-06-30T00:00:00.000Z")
    untouched = await crs.hgetall(f"apikey:{hand}")

    plan = await service.plan_revert(outcome.op_id)
    assert plan.skipped == [(hand, "changed since: expiresAt")]
    reverted, _ = await run(service, plan)
    assert reverted.status is OpStatus.DONE
    # Not disabled while keeping the new expiry someone gave it: left exactly as it is.
    assert await crs.hgetall(f"apikey:{hand}") == untouched
    assert [(left.key_id, left.name) for left in reverted.left_alone] == [(hand, untouched["name"])]
    for key in [zeta[0], zeta[2]]:
        assert await crs.hmget(f"apikey:{key}", ["isActive", "expiresAt"]) == ["false", expired]
    assert await crs_index_problems(crs) == []


async def test_a_rollback_keeps_a_tag_added_since_and_restores_untouched_keys_exactly(
    crs: aioredis.Redis,
) -> None:
    before = await crs_state(crs)
    service = make_service(crs, chunk_size=100)
    bulk = await ids_where(service, "tag:bulk")
    plan = await service.plan(bulk, TagEdit.build("add", ["atomic-tag"]))
    written_first = plan.plans[0].key_id

    async def crs_edits_then_chunk_three_fails(index: int) -> None:
        if index == 2:
            await crs_add_tag(crs, written_first, "their-tag")
            raise RuntimeError("disk on fire")

    service.config.runner.before_chunk = crs_edits_then_chunk_three_fails
    outcome, _ = await run(service, plan)
    assert outcome.status is OpStatus.ROLLED_BACK, outcome.not_rolled_back
    assert outcome.counts.rolled_back == 200 and outcome.not_rolled_back == ()
    after = await crs_state(crs)
    record = f"apikey:{written_first}"
    tags = json.loads(after[record][1]["tags"])
    assert "atomic-tag" not in tags and tags[-1] == "their-tag"
    # Every other key is back byte for byte (updatedAt too), every index as it was.
    for name in set(before) | set(after):
        if name not in (record, "apikey:tag:their-tag", "apikey:tags:all"):
            assert after.get(name) == before.get(name), name
    assert await crs_index_problems(crs) == []
