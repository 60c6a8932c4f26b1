"""Each operation on the CRS fixture, with every index set checked afterwards."""

from __future__ import annotations

import json

import pytest
import redis.asyncio as aioredis

from keyops.core.api import AccountAssign, BadRequest, StatusChange, TagEdit
from keyops.core.batch.audit import AuditFilter
from keyops.core.batch.operations import OpStatus
from keyops.core.errors import BadInput
from tests.engine.conftest import crs_state, ids_where, make_service, run
from tests.support.invariants import crs_index_problems


async def test_tag_add_reaches_every_key_indexes_and_audit(crs: aioredis.Redis) -> None:
    service = make_service(crs, chunk_size=100)
    targets = await ids_where(service, "tag:loop20 | tag:team-a")
    plan = await service.plan(targets, TagEdit.build("add", ["incident-42", " 标签 "]))
    assert plan.tag_counts["loop20"] == 20
    assert len(plan.plans) == len(targets) and not plan.skipped
    key_id, _name, before, after = plan.preview(1)[0]
    assert after == before + ", incident-42, 标签"

    outcome, events = await run(service, plan)
    assert outcome.status is OpStatus.DONE and outcome.counts.applied == len(targets)
    assert [e.phase.value for e in events][:3] == ["planned", "locking", "applying"]
    assert await crs_index_problems(crs) == []
    assert await crs.smembers("apikey:tag:incident-42") == set(targets)
    assert "incident-42" in await crs.smembers("apikey:tags:all")
    stored = json.loads(await crs.hget(f"apikey:{key_id}", "tags"))
    assert stored[-2:] == ["incident-42", "标签"]

    entries = [e async for e in service.audit_entries(AuditFilter(op_id=outcome.op_id))]
    per_key = [e for e in entries if e.event == "applied"]
    assert sorted(e.key_id for e in per_key) == sorted(targets)  # exactly one entry per key
    assert [e.event for e in entries if not e.key_id] == ["op-start", "op-end"]
    assert all("apiKey" not in e.changes for e in per_key)


async def test_tag_remove_prunes_emptied_tags_and_replace_and_skip(crs: aioredis.Redis) -> None:
    service = make_service(crs)
    probe = await ids_where(service, "tag:probe")
    outcome, _ = await run(service, await service.plan(probe, TagEdit.build("remove", ["probe"])))
    assert outcome.status is OpStatus.DONE
    assert not await crs.exists("apikey:tag:probe")
    assert "probe" not in await crs.smembers("apikey:tags:all")

    team_a = await ids_where(service, "tag:team-a")
    skip = await service.plan(team_a, TagEdit.build("add", ["dev", "new"], conflict="skip"))
    skipped = {key_id for key_id, _ in skip.skipped}
    assert skipped and all(reason.startswith("already carries dev") for _, reason in skip.skipped)
    replace = await service.plan(team_a[:3], TagEdit.build("replace", ["only"]))
    outcome, _ = await run(service, replace)
    assert [json.loads(await crs.hget(f"apikey:{k}", "tags")) for k in team_a[:3]] == [["only"]] * 3
    assert await crs_index_problems(crs) == []


async def test_disable_and_enable_keep_status_sets(crs: aioredis.Redis) -> None:
    service = make_service(crs)
    targets = await ids_where(service, "tag:team-a")
    outcome, _ = await run(service, await service.plan(targets, StatusChange.build(False)))
    assert outcome.status is OpStatus.DONE
    assert not set(targets) & await crs.smembers("apikey:set:active")
    outcome, _ = await run(service, await service.plan(targets, StatusChange.build(True)))
    assert set(targets) <= await crs.smembers("apikey:set:active")
    assert await crs_index_problems(crs) == []


async def test_enabling_an_expired_key_is_refused_unless_a_new_expiry_is_given(
    crs: aioredis.Redis,
) -> None:
    service = make_service(crs)
    (iota,) = await ids_where(service, "name:iota-expiring")
    await crs.hset(
        f"apikey:{iota}", mapping={"expiresAt": "2026-01-01T00:00:00.000Z", "isActive": "false"}
    )
    await service.load(refresh=True)
    plan = await service.plan([iota], StatusChange.build(True))
    assert plan.plans == [] and "expired at 2026-01-01T00:00:00.000Z" in plan.skipped[0][1]
    plan = await service.plan([iota], StatusChange.build(True, expires="2099-01-01"))
    outcome, _ = await run(service, plan)
    assert outcome.status is OpStatus.DONE
    assert await crs.hmget(f"apikey:{iota}", ["isActive", "expiresAt"]) == [
        "true",
        "2099-01-01T00:00:00.000Z",
    ]


async def test_a_soft_deleted_key_is_never_enabled(crs: aioredis.Redis) -> None:
    service = make_service(crs)
    (lam,) = await ids_where(service, "name:lambda-to-disable")
    await crs.hset(f"apikey:{lam}", mapping={"isDeleted": "true"})
    await crs.sadd("apikey:set:deleted", lam)
    await service.load(refresh=True)
    with pytest.raises(BadInput, match="soft-deleted"):
        await service.targets(None, [lam])
    plan = await service.plan([lam], StatusChange.build(True))
    assert plan.plans == [] and "never enables a deleted key" in plan.skipped[0][1]


async def test_account_assignment_checks_conflicts_exclusivity_and_dedicated(
    crs: aioredis.Redis,
) -> None:
    service = make_service(crs)
    alpha = await ids_where(service, "name:alpha-console-*")  # bound to console-loop-dedicated
    zeta = await ids_where(service, "name:zeta-unbound-*")
    request = AccountAssign.build(["console=console-loop-shared"])
    plan = await service.plan(alpha + zeta, request)
    assert {k for k, _ in plan.conflicts} == set(alpha)
    assert "bound to console-loop-dedicated; use --overwrite-existing" in plan.conflicts[0][1]
    assert {p.key_id for p in plan.plans} == set(zeta)
    outcome, _ = await run(service, plan)
    assert outcome.status is OpStatus.DONE
    shared_id = "503bbeac-cef8-4d9a-949e-9e7f3ec83ccb"
    assert [await crs.hget(f"apikey:{k}", "claudeConsoleAccountId") for k in zeta] == [
        shared_id
    ] * len(zeta)

    # Claude group on keys bound to Console: the console field is cleared (mutual exclusion).
    plan = await service.plan(
        zeta, AccountAssign.build(["claude=group:grp-claude-loop"], overwrite_existing=True)
    )
    outcome, _ = await run(service, plan)
    for key_id in zeta:
        assert await crs.hmget(
            f"apikey:{key_id}", ["claudeAccountId", "claudeConsoleAccountId"]
        ) == [
            "group:1c2c9b84-7b6c-4f92-8666-1e771bb8e95d",
            "",
        ]

    assert await crs_index_problems(crs) == []
    plan = await service.plan(zeta, AccountAssign.build(["gemini=gemini-api-loop"]))
    assert any("dedicated account 'gemini-api-loop' will be bound to" in w for w in plan.warnings)
    assert all(p.fields[0].after == "api:541082f5-ad9a-41c6-9394-acd18fb2dda4" for p in plan.plans)


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["console=no-such-account"], "no claude-console account 'no-such-account'"),
        (["console=gemini-api-loop"], "'gemini-api-loop' is a gemini-api account"),
        (["openai=group:grp-claude-loop"], "group 'grp-claude-loop' serves claude"),
        (["bedrock=group:grp-claude-loop"], "groups cannot be bound in this field"),
    ],
)
async def test_bad_assignments_are_refused_and_write_nothing(
    crs: aioredis.Redis, pairs: list[str], message: str
) -> None:
    service = make_service(crs)
    before = await crs_state(crs)
    with pytest.raises(BadRequest, match=message):
        await service.plan(await ids_where(service, "name:zeta-*"), AccountAssign.build(pairs))
    assert await crs_state(crs) == before


async def test_inactive_hard_fail_account_needs_force(crs: aioredis.Redis) -> None:
    await crs.hset(
        "openai_responses_account:bbe431a5-29e2-4c59-8605-b4c017122acb", "status", "unauthorized"
    )
    service = make_service(crs)
    zeta = await ids_where(service, "name:zeta-*")
    with pytest.raises(BadRequest, match=r"unhealthy .*use --force"):
        await service.plan(zeta, AccountAssign.build(["openai=responses-loop-dedicated"]))
    plan = await service.plan(
        zeta, AccountAssign.build(["openai=responses-loop-dedicated"], force=True)
    )
    assert plan.plans


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ([""], "empty tag"),
        (["a\nb"], "control character"),
        ([f"t{i}" for i in range(10_000)], "10000 tags"),
        (["x" * 65], "at most 64"),
    ],
)
def test_bad_tags_are_refused_with_a_specific_message(tags: list[str], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        TagEdit.build("add", tags)


async def test_unknown_ids_are_refused(crs: aioredis.Redis) -> None:
    service = make_service(crs)
    with pytest.raises(BadInput, match="unknown key id 'nope'"):
        await service.targets(None, ["nope"])


async def test_tags_planned_from_the_loaded_list_never_overwrite_newer_or_odd_values(
    crs: aioredis.Redis,
) -> None:
    service = make_service(crs)
    loop = await ids_where(service, "tag:loop20")  # loads the list the plan is made from
    edited, spaced, deleted = loop[0], loop[1], loop[2]
    await crs.hset(f"apikey:{edited}", "tags", '["edited-after-loading"]')
    await crs.hset(
        f"apikey:{spaced}", "tags", '["loop20", "spaced"]'
    )  # not JSON.stringify's spelling
    await crs.delete(f"apikey:{deleted}")
    outcome, _ = await run(service, await service.plan(loop, TagEdit.build("add", ["x"])))
    assert outcome.status is OpStatus.DONE and outcome.counts.skipped == 1
    assert json.loads(await crs.hget(f"apikey:{edited}", "tags")) == ["edited-after-loading", "x"]
    assert json.loads(await crs.hget(f"apikey:{spaced}", "tags")) == ["loop20", "spaced", "x"]
    assert not await crs.exists(f"apikey:{deleted}")  # never recreated
    assert any("deleted before keyops reached it" in w for w in outcome.warnings)


async def test_the_outcome_arrives_after_the_keys_are_released(crs: aioredis.Redis) -> None:
    """A caller that stops at the outcome (a console quitting) leaves no key claimed."""
    from keyops.core.batch import names

    service = make_service(crs)
    ids = await ids_where(service, "tag:team-a")
    plan = await service.plan(ids, TagEdit.build("add", ["released"]))
    async for event in service.run(plan):
        if event.outcome is not None:
            assert event.outcome.status is OpStatus.DONE
            assert not await crs.exists(names.lease(event.outcome.op_id))
            held = await crs.hmget(names.KEY_LOCKS, ids)
            assert all(owner is None for owner in held)
            break
    else:
        raise AssertionError("no outcome")
    # Another operator can take the same keys at once.
    again = await service.plan(ids, TagEdit.build("add", ["second"]))
    outcome, _ = await run(service, again)
    assert outcome.status is OpStatus.DONE
